// One ES module file, everything (Lit included) bundled in, the same bytes on every machine:
// no hashes, no source maps, no build time or absolute paths in the output.
import { defineConfig } from "vitest/config";

export default defineConfig({
  build: {
    lib: {
      entry: "src/index.ts",
      formats: ["es"],
      fileName: () => "jarvis-card.js",
    },
    outDir: process.env.JARVIS_CARD_OUT ?? "../custom_components/jarvis/frontend",
    emptyOutDir: false,
    target: "es2022",
    minify: true,
    sourcemap: false,
    reportCompressedSize: false,
    copyPublicDir: false,
  },
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
  },
});
