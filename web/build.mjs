// Bundles the dashboard and chat page into one folder (default web/dist; CMake passes
// build/web): index.html, chat.html, dashboard.js, chat.js, style.css, icon.svg. Libraries come
// from node_modules (npm ci, pinned by package-lock.json); nothing is fetched at run time.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? join(here, 'dist'));
mkdirSync(out, { recursive: true });

await build({
  entryPoints: { dashboard: join(here, 'src/dashboard.js'), chat: join(here, 'src/chat.js') },
  outdir: out,
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome100', 'firefox100', 'safari15'],
  legalComments: 'eof',  // the libraries' licence notices travel with them
  logLevel: 'warning',
});
for (const f of ['index.html', 'chat.html', 'style.css', 'icon.svg']) {
  copyFileSync(join(here, 'src', f), join(out, f));
}
