import { defineConfig } from 'vite';

// The console is served by the proxy at /ui/ under a strict CSP: no inline script or style, nothing from
// another origin, so the build emits only files.
export default defineConfig({
  root: import.meta.dirname,
  base: '/ui/',
  build: {
    outDir: '../dist/ui',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
});
