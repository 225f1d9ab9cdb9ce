import { rmSync } from "node:fs";
import { basename } from "node:path";

/** Remove the throwaway data dir the config created for the backend. */
export default function teardown(): void {
  const dir = process.env.VF_E2E_DATA_DIR;
  if (dir && basename(dir).startsWith("vf-e2e-")) rmSync(dir, { recursive: true, force: true });
}
