/**
 * Publication data validation by `publication_data_format`: "" rejects empty data,
 * "json" requires valid JSON, "json_object" a JSON object, "binary" accepts anything.
 */
export function validateDataFormat(format: string, data: Uint8Array): boolean {
  switch (format) {
    case 'binary':
      return true;
    case 'json':
    case 'json_object': {
      let v: unknown;
      try {
        v = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
      } catch {
        return false;
      }
      return format === 'json' || (typeof v === 'object' && v !== null && !Array.isArray(v));
    }
    default:
      return data.length > 0;
  }
}
