/**
 * Why a frame's pixels were not returned. 'unsupported': the encoding is one histoseek does not decode
 * faithfully (a transfer syntax, bit depth or colour space it refuses rather than guess at);
 * 'corrupt': the bytes do not decode, or decode to something other than the header promises.
 */
export class FrameDecodeError extends Error {
  constructor(
    readonly kind: 'unsupported' | 'corrupt',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'FrameDecodeError';
  }
}
