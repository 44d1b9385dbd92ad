// Errors the model throws. Bad labels are data (LabelRejection), never thrown;
// only programming or configuration mistakes throw, with a stable code.

export type ModelErrorCode =
  | 'MODEL_BAD_OPTIONS' // an address pool option is malformed or empty
  | 'MODEL_BAD_TASK' // a Task handed to the table violates its type contract
  | 'MODEL_BAD_RANGE'; // phash2 range outside 1..2^32

export class ModelError extends Error {
  override readonly name = 'ModelError';
  readonly code: ModelErrorCode;

  constructor(code: ModelErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
