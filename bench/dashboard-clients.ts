/**
 * Child process of `dashboard/cost` (bench/dashboard.ts): the dashboards.
 * Told `{ connect: url, count }` it opens `count` Server-Sent Events
 * streams on the dashboard feed and, like a page, parses every frame's
 * JSON; it answers `{ connected }` once each stream got its first frame.
 * Told `{ disconnect: true }` it closes them and answers `{ disconnected,
 * frames, bytes }`. A separate process, as browsers are: the observed
 * program pays for serving the feed, not for the pages.
 *
 * @module
 */
let streams: AbortController[] = []
let frames = 0
let bytes = 0

async function open(url: string, onFirst: () => void): Promise<void> {
  const controller = new AbortController()
  streams.push(controller)
  const response = await fetch(url, { signal: controller.signal })
  const decoder = new TextDecoder()
  let text = ''
  let first = true
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.length
      text += decoder.decode(chunk, { stream: true })
      let end: number
      while ((end = text.indexOf('\n\n')) >= 0) {
        const event = text.slice(0, end)
        text = text.slice(end + 2)
        const data = event.split('\n').find((line) => line.startsWith('data: '))
        if (data === undefined) continue
        JSON.parse(data.slice(6))
        frames++
        if (first) {
          first = false
          onFirst()
        }
      }
    }
  } catch {
    // aborted
  }
}

process.on('message', (m: { connect?: string; count?: number; disconnect?: boolean }) => {
  if (m.connect !== undefined) {
    let waiting = m.count ?? 1
    frames = 0
    bytes = 0
    for (let i = 0; i < (m.count ?? 1); i++) void open(m.connect, () => --waiting === 0 && process.send!({ connected: true }))
  } else if (m.disconnect) {
    for (const s of streams) s.abort()
    streams = []
    process.send!({ disconnected: true, frames, bytes })
  }
})
process.on('disconnect', () => process.exit(0))
