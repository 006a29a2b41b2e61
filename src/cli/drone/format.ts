/**
 * Number formatting and terminal styling for `threadstate demo`.
 *
 * @module
 */

/** 1234567 -> "1,234,567". */
export const count = (n: number): string => Math.round(n).toLocaleString('en-US')

/** Milliseconds with a precision that suits their size: "0.004 ms", "1.23 ms", "250 ms". */
export function ms(value: number): string {
  if (!Number.isFinite(value)) return '—'
  const digits = value < 0.1 ? 3 : value < 10 ? 2 : value < 100 ? 1 : 0
  return `${value.toFixed(digits)} ms`
}

/** Seconds with one decimal: "4.2 s". */
export const seconds = (milliseconds: number): string => `${(milliseconds / 1000).toFixed(1)} s`

/** A rate: "99.8 Hz", "1,000 Hz". */
export function hz(value: number): string {
  if (!Number.isFinite(value)) return '—'
  return value >= 1000 ? `${count(value)} Hz` : `${value.toFixed(1)} Hz`
}

/** `part` as a percentage of `whole`, with more decimals for small values. */
export function percent(part: number, whole: number): string {
  const p = whole === 0 ? 0 : (100 * part) / whole
  return `${p === 0 || p >= 1 ? p.toFixed(1) : p >= 0.01 ? p.toFixed(2) : '< 0.01'} %`
}

/** A vector with fixed-width components: "( 0.12 -0.30  0.01)". */
export const vector = (v: ArrayLike<number>): string =>
  `(${Array.from(v, (x) => (Math.abs(x) < 0.005 ? 0 : x).toFixed(2).padStart(5)).join(' ')})`

/** ANSI styles, or none (`plain`): bold, dim and a few colours. */
export interface Style {
  bold(text: string): string
  dim(text: string): string
  green(text: string): string
  yellow(text: string): string
  red(text: string): string
  cyan(text: string): string
}

const wrap =
  (open: number, close: number) =>
  (text: string): string =>
    `\x1b[${open}m${text}\x1b[${close}m`

/** ANSI escape styles. */
export const ANSI: Style = {
  bold: wrap(1, 22),
  dim: wrap(2, 22),
  green: wrap(32, 39),
  yellow: wrap(33, 39),
  red: wrap(31, 39),
  cyan: wrap(36, 39),
}

const same = (text: string): string => text
/** No styling. */
export const PLAIN: Style = { bold: same, dim: same, green: same, yellow: same, red: same, cyan: same }
