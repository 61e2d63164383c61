/** `histoseek slide info|mask`: what a whole-slide image holds, and where its tissue is. */
import { writeFile } from 'node:fs/promises';
import { DicomSlide } from '../wsi/dicom/dicom-slide.js';
import { describeTransferSyntax } from '../wsi/dicom/frame-codecs.js';
import { openSlide } from '../wsi/slide.js';
import { renderMaskPreview, tissueMask } from '../wsi/tissue-mask.js';
import { JSON_OPTIONS, positiveInt } from './args.js';
import { defineCommand } from './command.js';
import { DICOMWEB_AUTH_USAGE, DICOMWEB_OPTIONS, useDicomWebFlags } from './dicomweb-options.js';

const USAGE = `histoseek slide info SLIDE [--json]
histoseek slide mask SLIDE --out PNG [--max-side 2048]

info: vendor, levels, microns per pixel, objective power, associated images and properties of a
whole-slide image (Aperio SVS, Hamamatsu NDPI, MIRAX, Leica SCN, generic tiled TIFF… through
OpenSlide; plain TIFF/JPEG/PNG as one-level slides; DICOM WSI: a folder holding one series, a
FOLDER#series=UID, or one of the series' .dcm files; a series in a PACS,
dicomweb+https://HOST/PATH/studies/S/series/SE), with a DICOM slide's study and series UIDs,
transfer syntaxes and tiling.
mask: the tissue detected on a low-resolution view (Otsu on saturation, glass and pen marks left
out), drawn over the slide's thumbnail.

${DICOMWEB_AUTH_USAGE}`;

export const slideCommand = defineCommand({
  usage: USAGE,
  options: { out: { type: 'string' }, ...JSON_OPTIONS, 'max-side': { type: 'string' }, ...DICOMWEB_OPTIONS },
  async run({ values, positionals }) {
    const [verb, path] = positionals;
    if (!path || (verb !== 'info' && verb !== 'mask')) throw new Error(`usage:\n${USAGE}`);
    await useDicomWebFlags(path, values);
    const slide = await openSlide(path);
    try {
      if (verb === 'info') {
        const info = {
          path,
          backend: slide.backend,
          vendor: slide.vendor,
          levels: slide.levels,
          mpp: slide.mpp,
          objective_power: slide.objectivePower,
          associated_images: slide.associatedImages(),
          properties: slide.properties,
          ...(slide instanceof DicomSlide ? { dicom: slide.dicom } : {}),
        };
        if (values.json) process.stdout.write(`${JSON.stringify(info)}\n`);
        else {
          const l0 = slide.levels[0];
          process.stdout.write(
            `${path}\n  ${slide.vendor} (${slide.backend}), ${l0.width}×${l0.height} px, ${slide.levels.length} levels (downsamples ${slide.levels.map((l) => +l.downsample.toFixed(2)).join(', ')})\n`,
          );
          process.stdout.write(
            `  ${slide.mpp ? `${slide.mpp.x.toFixed(4)} × ${slide.mpp.y.toFixed(4)} µm/px` : 'resolution unknown'}${slide.objectivePower ? `, ${slide.objectivePower}×` : ''}; associated images: ${slide.associatedImages().join(', ') || 'none'}\n`,
          );
          if (slide instanceof DicomSlide) process.stdout.write(dicomLines(slide));
        }
        return 0;
      }
      if (!values.out) throw new Error(`--out PNG is required\n\n${USAGE}`);
      const mask = await tissueMask(slide, { maxSide: positiveInt(values['max-side'], 2048, '--max-side') });
      await writeFile(values.out, await renderMaskPreview(slide, mask));
      process.stderr.write(`${values.out}: tissue covers ${(100 * mask.tissueFraction).toFixed(1)}% of ${path}\n`);
      return 0;
    } finally {
      slide.close();
    }
  },
});

/** A DICOM slide's series, study, patient, encodings and tiling, and each level's size. */
function dicomLines(slide: DicomSlide): string {
  const d = slide.dicom;
  const tiling = d.tiling.map((t) => `TILED_${t.toUpperCase()}`).join(', ');
  return [
    `  study ${d.studyInstanceUid}`,
    `  series ${d.seriesInstanceUid}${d.patientId ? `, patient ${d.patientId}` : ''}${d.containerIdentifier ? `, container ${d.containerIdentifier}` : ''}`,
    `  transfer syntax ${d.transferSyntaxUids.map(describeTransferSyntax).join(', ')}; ${tiling}`,
    ...slide.levels.map((l, i) => `  level ${i}: ${l.width}×${l.height} (downsample ${+l.downsample.toFixed(2)})`),
  ]
    .map((line) => `${line}\n`)
    .join('');
}
