/** What the route modules share; each module registers its routes against these. */
import type { ServerIndex } from './server-index.js';
import type { ServerLimits } from './limits.js';
import type { SlideLibrary } from './slides.js';
import type { Thumbnails } from './thumbnails.js';

export interface ServerDeps {
  index: ServerIndex;
  thumbnails: Thumbnails;
  limits: ServerLimits;
  /** The folder with metrics.json and confusion.png written by `histoseek eval --report`. */
  reportDir: string;
  /** Whole-slide images for the viewer, or null when the server was given none. */
  slides: SlideLibrary | null;
}
