// The committed client types must be what openapi-typescript makes of the committed OpenAPI
// document (tests/unit/test_openapi_document.py checks that document against the server).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const root = resolve(__dirname, "../../..");

describe("generated API types", () => {
  it("are generated from the committed openapi.json (run `npm run gen:api` after an API change)", () => {
    const out = join(mkdtempSync(join(tmpdir(), "vf-schema-")), "schema.ts");
    execFileSync(join(root, "node_modules/.bin/openapi-typescript"), [join(root, "openapi.json"), "-o", out], {
      stdio: "pipe",
    });
    const committed = readFileSync(join(root, "src/api/generated/schema.ts"), "utf8");
    expect(readFileSync(out, "utf8") === committed).toBe(true);
  }, 60_000);
});
