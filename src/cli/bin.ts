#!/usr/bin/env node
/**
 * The `threadstate` command line (the package's `bin`). Node-only.
 *
 * ```
 * threadstate demo [--duration <seconds>]   the locks at work across worker threads
 * threadstate --help                        the commands
 * ```
 *
 * Each command is one entry of {@link COMMANDS}: its options (for
 * `node:util` parseArgs), its help, and a `run` that imports the command's
 * module only when it runs. To add a command, add an entry.
 *
 * Exit codes: 0 success, 1 the command failed (e.g. a demo check), 2 bad
 * usage (unknown command or option, bad option value).
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import { parseArgs, type ParseArgsConfig } from 'node:util'

type OptionSpecs = NonNullable<ParseArgsConfig['options']>
type OptionValues = Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>

/** One subcommand. */
interface Command {
  /** One line for the command list. */
  readonly summary: string
  /** The usage line, after `Usage: `. */
  readonly usage: string
  /** What the command does, a few lines. */
  readonly description: string
  /** Options for parseArgs (`--help` is added to every command). */
  readonly options: OptionSpecs
  /** Help lines of the options: [flags, explanation]. */
  readonly optionHelp: readonly (readonly [string, string])[]
  /** Runs the command with parsed options; resolves with the exit code. */
  run(values: OptionValues): Promise<number>
}

/** A bad command line: reported with the relevant usage, exit code 2. */
class UsageError extends Error {
  override readonly name = 'UsageError'
  constructor(
    message: string,
    readonly help: string,
  ) {
    super(message)
  }
}

/** Reads `--<name> <seconds>` as milliseconds. */
function secondsOption(name: string, value: OptionValues[string], help: string): number {
  const seconds = typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 600) {
    const got = `\`${String(value)}\``
    throw new UsageError(`Expected \`--${name}\` to be a number of seconds > 0 and <= 600, got ${got}`, help)
  }
  return seconds * 1000
}

const COMMANDS: Readonly<Record<string, Command>> = {
  demo: {
    summary: 'show the locks at work across real worker threads (about 4 s)',
    usage: 'threadstate demo [--duration <seconds>]',
    description:
      'Runs four short scenes on real worker threads: a Mutex against lost updates, ReentrantMutex\n' +
      'versus DeadlockError (seed 003), a worker killed while holding a lock (OwnerDiedError and\n' +
      'recovery), and an RWLock with readers, a writer and stats. Exits 1 if any check fails.',
    options: { duration: { type: 'string', short: 'd' } },
    optionHelp: [['-d, --duration <seconds>', 'rough running time (default: 4)']],
    async run(values) {
      const duration = values['duration']
      const options =
        duration === undefined ? {} : { durationMs: secondsOption('duration', duration, commandHelp('demo', true)) }
      const { runDemo } = await import('./demo.js')
      return runDemo(options)
    },
  },
}

function columns(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(...rows.map(([left]) => left.length))
  return rows.map(([left, right]) => `  ${left.padEnd(width)}   ${right}`).join('\n')
}

function mainHelp(): string {
  return [
    'Usage: threadstate <command> [options]',
    '',
    'Commands:',
    columns(Object.entries(COMMANDS).map(([name, command]) => [name, command.summary])),
    '',
    'Options:',
    columns([
      ['-h, --help', "show this help (a command's: threadstate <command> --help)"],
      ['-v, --version', 'print the version'],
    ]),
  ].join('\n')
}

/** A command's help; `brief` (after a usage error) leaves out the description. */
function commandHelp(name: string, brief = false): string {
  const command = COMMANDS[name]!
  return [
    `Usage: ${command.usage}`,
    ...(brief ? [] : ['', command.description]),
    '',
    'Options:',
    columns([...command.optionHelp, ['-h, --help', 'show this help']]),
  ].join('\n')
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown }
  return String(pkg.version)
}

function isCommand(name: string | undefined): name is string {
  return name !== undefined && Object.hasOwn(COMMANDS, name)
}

/** Parses `argv` (without `node` and the script) and runs; resolves with the exit code. */
async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv
  if (first === '--help' || first === '-h' || first === 'help') {
    const topic = rest[0]
    if (topic === undefined) console.log(mainHelp())
    else if (isCommand(topic)) console.log(commandHelp(topic))
    else {
      const names = Object.keys(COMMANDS).join(', ')
      throw new UsageError(`Expected a command to explain (${names}), got \`${topic}\``, mainHelp())
    }
    return 0
  }
  if (first === '--version' || first === '-v') {
    console.log(version())
    return 0
  }
  if (first === undefined) throw new UsageError('Expected a command, got none', mainHelp())
  if (!isCommand(first)) {
    const names = Object.keys(COMMANDS).join(', ')
    throw new UsageError(`Expected a command (${names}) or --help, got \`${first}\``, mainHelp())
  }
  const command = COMMANDS[first]!
  let values: OptionValues
  try {
    values = parseArgs({
      args: [...rest],
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }).values
  } catch (error) {
    // parseArgs throws TypeErrors with ERR_PARSE_ARGS_* codes for bad command lines.
    const code = (error as { code?: unknown } | null)?.code
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      throw new UsageError((error as Error).message, commandHelp(first, true))
    }
    throw error
  }
  if (values['help'] === true) {
    console.log(commandHelp(first))
    return 0
  }
  return command.run(values)
}

try {
  process.exitCode = await main(process.argv.slice(2))
} catch (error) {
  if (error instanceof UsageError) {
    console.error(`threadstate: ${error.message}\n\n${error.help}`)
    process.exitCode = 2
  } else {
    console.error('threadstate: unexpected error:', error)
    process.exitCode = 1
  }
}
