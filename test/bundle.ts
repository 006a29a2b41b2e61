/** The core bundled as a consumer's bundler would: dist/index.js, esbuild, the given platform's conditions. */
import { build } from 'esbuild'

/** Bundles the built core; returns the code and the input files it pulled in. */
export async function bundleCore(platform: 'browser' | 'node', format: 'iife' | 'esm' = 'iife'): Promise<{ code: string; inputs: string[] }> {
  const result = await build({
    entryPoints: [new URL('../dist/index.js', import.meta.url).pathname],
    bundle: true,
    write: false,
    format,
    ...(format === 'iife' ? { globalName: 'threadstate' } : {}),
    platform,
    metafile: true,
    logLevel: 'silent',
    // As a consumer would: ignore this repo's tsconfig `paths` (used only for typechecking).
    tsconfigRaw: {},
  })
  return { code: result.outputFiles[0]!.text, inputs: Object.keys(result.metafile.inputs) }
}
