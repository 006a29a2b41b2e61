// The part of js-quantities' ESM build that threadstate uses (its own types
// are for an older version and do not cover the `./esm` entry).
declare module 'js-quantities/esm' {
  interface QtyStatic {
    parse(value: string): object | null
    swiftConverter(from: string, to: string): (value: number) => number
  }
  const Qty: QtyStatic
  export default Qty
}
