/**
 * An expected failure (bad or missing input file, impossible parameters): the host prints the
 * message alone, without a stack, and exits 1.
 */
export class StageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StageError';
  }
}
