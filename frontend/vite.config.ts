import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import type { Plugin } from "vite";
import { defineConfig } from "vitest/config";

// The API process serves this directory at "/", so every URL in the app is relative (/api/...).
const outDir = fileURLToPath(new URL("../src/videofoundry/web", import.meta.url));

/**
 * emptyOutDir wipes outDir, but the Python package tracks a couple of placeholder files there
 * (see the root .gitignore): keep them across builds.
 */
function keepTrackedFiles(names: string[]): Plugin {
  const saved = new Map<string, Buffer>();
  return {
    name: "videofoundry:keep-tracked-files",
    apply: "build",
    buildStart() {
      saved.clear();
      for (const name of names) {
        const path = join(outDir, name);
        if (existsSync(path)) saved.set(name, readFileSync(path));
      }
    },
    closeBundle() {
      for (const [name, content] of saved) writeFileSync(join(outDir, name), content);
    },
  };
}

const api = process.env.VF_API ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react(), keepTrackedFiles([".gitkeep", "__init__.py"])],
  build: {
    outDir,
    emptyOutDir: true,
  },
  server: {
    proxy: {
      "/api": { target: api, ws: true },
      "/healthz": api,
    },
  },
  test: {
    environment: "jsdom",
    globals: false,
    setupFiles: ["./src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    restoreMocks: true,
  },
});
