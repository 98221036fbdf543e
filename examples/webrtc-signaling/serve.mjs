// Serves the WebRTC signaling example: the page and the official SDK's browser build from
// node_modules, nothing else. Run `node examples/webrtc-signaling/serve.mjs [port]` from the
// repository root (default port 3000), or import `createExampleServer` to embed it.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** An http.Server (not yet listening) answering `/`, `/index.html` and `/centrifuge.js`. */
export function createExampleServer() {
  const sdk = join(here, '..', '..', 'node_modules', 'centrifuge', 'dist', 'centrifuge.js');
  const files = {
    '/': [join(here, 'index.html'), 'text/html; charset=utf-8'],
    '/index.html': [join(here, 'index.html'), 'text/html; charset=utf-8'],
    '/centrifuge.js': [sdk, 'text/javascript; charset=utf-8'],
  };
  return http.createServer((req, res) => {
    const file = files[(req.url ?? '/').split('?')[0]];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': file[1] }).end(readFileSync(file[0]));
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const port = Number(process.argv[2] ?? 3000);
  createExampleServer().listen(port, () => console.log(`open http://localhost:${port}/?room=demo in two tabs`));
}
