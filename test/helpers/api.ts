/** Plain-fetch access to the server HTTP API (`POST /api/<method>`). */

export interface ApiResponse {
  status: number;
  body: any;
  text: string;
}

/** Calls one API method with the X-API-Key header and parses the JSON body when there is one. */
export async function apiCall(apiUrl: string, key: string | undefined, method: string, params: unknown, headers: Record<string, string> = {}): Promise<ApiResponse> {
  const h: Record<string, string> = { 'content-type': 'application/json', ...headers };
  if (key !== undefined) h['x-api-key'] = key;
  const res = await fetch(`${apiUrl}/${method}`, { method: 'POST', headers: h, body: typeof params === 'string' ? params : JSON.stringify(params) });
  const text = await res.text();
  let body: any;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text };
}

/** Calls a method and returns its `result`, failing on HTTP or API errors. */
export async function apiResult(apiUrl: string, key: string | undefined, method: string, params: unknown): Promise<any> {
  const r = await apiCall(apiUrl, key, method, params);
  if (r.status !== 200 || !r.body || r.body.error) throw new Error(`API ${method} failed: ${r.status} ${r.text}`);
  return r.body.result;
}
