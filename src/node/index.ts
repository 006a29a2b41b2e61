/**
 * Node-only helpers (`threadstate/node`). Never imported by the core.
 *
 * @module
 */
export { superviseWorker, type SupervisedExit, type SuperviseOptions } from './supervise.js'
