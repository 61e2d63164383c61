/** The DICOM transfer syntax UIDs histoseek reads or names, for the Part 10 reader and the frame codecs alike. */

export const TransferSyntax = {
  implicitLittle: '1.2.840.10008.1.2',
  explicitLittle: '1.2.840.10008.1.2.1',
  deflatedExplicitLittle: '1.2.840.10008.1.2.1.99',
  explicitBig: '1.2.840.10008.1.2.2',
  jpegBaseline: '1.2.840.10008.1.2.4.50',
  jpegExtended: '1.2.840.10008.1.2.4.51',
  jpegLsLossless: '1.2.840.10008.1.2.4.80',
  jpegLsNearLossless: '1.2.840.10008.1.2.4.81',
  jpeg2000Lossless: '1.2.840.10008.1.2.4.90',
  jpeg2000: '1.2.840.10008.1.2.4.91',
  jpeg2000Part2Lossless: '1.2.840.10008.1.2.4.92',
  rleLossless: '1.2.840.10008.1.2.5',
} as const;

/** Names for messages: those above, and the ones a user may meet that histoseek does not decode. */
const NAMES: Record<string, string> = {
  [TransferSyntax.implicitLittle]: 'Implicit VR Little Endian',
  [TransferSyntax.explicitLittle]: 'Explicit VR Little Endian',
  [TransferSyntax.deflatedExplicitLittle]: 'Deflated Explicit VR Little Endian',
  [TransferSyntax.explicitBig]: 'Explicit VR Big Endian',
  [TransferSyntax.jpegBaseline]: 'JPEG Baseline',
  [TransferSyntax.jpegExtended]: 'JPEG Extended',
  [TransferSyntax.jpegLsLossless]: 'JPEG-LS Lossless',
  [TransferSyntax.jpegLsNearLossless]: 'JPEG-LS Near-Lossless',
  [TransferSyntax.jpeg2000Lossless]: 'JPEG 2000 Lossless',
  [TransferSyntax.jpeg2000]: 'JPEG 2000',
  [TransferSyntax.jpeg2000Part2Lossless]: 'JPEG 2000 Part 2 Lossless',
  [TransferSyntax.rleLossless]: 'RLE Lossless',
  '1.2.840.10008.1.2.4.57': 'JPEG Lossless',
  '1.2.840.10008.1.2.4.70': 'JPEG Lossless SV1',
  '1.2.840.10008.1.2.4.201': 'HTJ2K Lossless',
  '1.2.840.10008.1.2.4.202': 'HTJ2K Lossless RPCL',
  '1.2.840.10008.1.2.4.203': 'HTJ2K',
  '1.2.840.10008.1.2.4.110': 'JPEG XL Lossless',
  '1.2.840.10008.1.2.4.111': 'JPEG XL JPEG Recompression',
  '1.2.840.10008.1.2.4.112': 'JPEG XL',
};

/** "1.2.840.10008.1.2.4.50 (JPEG Baseline)", or the bare UID when it is not one of the names known here. */
export function describeTransferSyntax(uid: string): string {
  const name = NAMES[uid];
  return name ? `${uid} (${name})` : uid;
}
