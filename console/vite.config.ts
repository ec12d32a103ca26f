import { defineConfig } from "vite";

// Served by the service at /console/ under a strict CSP (script-src 'self'; style-src 'self'), so the
// build must emit external files only: no module-preload polyfill (it is an inline script) and no
// inlined CSS or assets.
export default defineConfig({
  // This directory, wherever the build is started from (no node:url, so the file typechecks with DOM types only).
  root: decodeURIComponent(new URL(".", import.meta.url).pathname),
  base: "/console/",
  // Plain Preact with the automatic JSX runtime; @preact/preset-vite is not a dependency.
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "../dist/console",
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    cssCodeSplit: false,
    target: "es2022",
  },
});
