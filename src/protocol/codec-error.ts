/**
 * A frame or message that cannot cross the wire. `bad_request` means client input could not be
 * decoded (callers disconnect with 3501); `inappropriate_protocol` means a payload cannot be
 * embedded in this encoding, e.g. non-JSON bytes for a JSON connection (callers disconnect with 3506).
 */
export class CodecError extends Error {
  constructor(
    readonly code: 'bad_request' | 'inappropriate_protocol',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CodecError';
  }
}

/** Wraps any decoding failure as a `bad_request` CodecError, keeping CodecErrors as they are. */
export function badRequest(message: string, cause?: unknown): CodecError {
  if (cause instanceof CodecError) return cause;
  return new CodecError('bad_request', cause instanceof Error ? `${message}: ${cause.message}` : message, { cause });
}
