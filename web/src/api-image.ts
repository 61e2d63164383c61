/**
 * Images from the API (thumbnails, the confusion matrix). An <img src> cannot send the Authorization
 * header, so each is fetched with it and shown from a blob: URL (which the CSP's img-src allows).
 */
import { authorizedFetch } from './auth.js';
import { h } from './dom.js';

/** An <img> that loads `url` with the token; a failure fires its 'error' event, as a plain <img> would. */
export function apiImage(url: string, attrs: Record<string, string | undefined>): HTMLImageElement {
  const img = h('img', attrs);
  authorizedFetch(url)
    .then(async (response) => {
      if (!response.ok) throw new Error(`${response.status}`);
      const blobUrl = URL.createObjectURL(await response.blob());
      // The decoded image stays on screen once loaded; the blob is not needed after that.
      const release = () => URL.revokeObjectURL(blobUrl);
      img.addEventListener('load', release, { once: true });
      img.addEventListener('error', release, { once: true });
      img.src = blobUrl;
    })
    .catch(() => img.dispatchEvent(new Event('error')));
  return img;
}
