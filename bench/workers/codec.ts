/**
 * msgpackr alone, with the options threadstate's value codec uses
 * (src/encoding/values.ts: structured-clone mode, more types, BigInt
 * extension), so the snapshot benches can show which part of a publish or a
 * first read is MessagePack itself and which part is the library around it
 * (the encodability walk before `pack`, the copy, the deep freeze after
 * `unpack`). Keep the options in step with that file.
 *
 * @module
 */
import { Packr } from 'msgpackr/pack' // the build src/encoding/values.ts uses (no native extractor)

/** A Packr configured as src/encoding/values.ts configures its own. */
export const bareCodec = new Packr({ structuredClone: true, moreTypes: true, useBigIntExtension: true })
