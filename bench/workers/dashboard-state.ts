/**
 * The state of `dashboard/cost` (bench/dashboard.ts): what its writer worker
 * publishes and its loop worker reads.
 *
 * @module
 */
import { f64, schema, u32 } from 'threadstate'

/** A position and a counter. */
export const BenchState = schema({ x: f64(), y: f64(), z: f64(), n: u32() })
