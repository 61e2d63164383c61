/**
 * A restricted reader for Python pickles: only the opcodes a PyTorch state_dict uses (protocols 2
 * to 5), and only the globals its caller allows. Pickles can name any Python function and call it;
 * this reader calls nothing but the caller's own JavaScript stand-ins for the allowed names, so a
 * checkpoint can never run code here. Anything else is refused with the opcode or global named.
 */

/** A JavaScript stand-in for an allowed Python callable (REDUCE calls it with the pickled arguments). */
export class PickleFunction {
  constructor(
    readonly name: string,
    readonly call: (args: readonly unknown[]) => unknown,
  ) {}
}

export interface UnpickleOptions {
  /**
   * The globals the pickle may name, by `module name` (e.g. `collections OrderedDict`): a
   * PickleFunction to be called by REDUCE, or any value standing for a type (e.g. a storage type).
   */
  globals: ReadonlyMap<string, unknown>;
  /** Resolves a persistent id (BINPERSID): torch's reference to a storage record. */
  persistentLoad: (pid: unknown) => unknown;
  /** Prefixes every error (normally the file's path and the record's name). */
  source: string;
}

const MARK = Symbol('mark');

export function unpickle(bytes: Uint8Array, options: UnpickleOptions): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = new TextDecoder('utf-8', { fatal: true });
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  let at = 0;

  const fail = (problem: string): never => {
    throw new Error(`${options.source}: ${problem}`);
  };
  const need = (n: number): number => {
    if (at + n > bytes.length) fail(`the pickle ends early (byte ${at} of ${bytes.length})`);
    const start = at;
    at += n;
    return start;
  };
  const u8 = () => view.getUint8(need(1));
  const u16 = () => view.getUint16(need(2), true);
  const u32 = () => view.getUint32(need(4), true);
  const u64 = () => Number(view.getBigUint64(need(8), true));
  const utf8 = (n: number) => {
    const start = need(n);
    return text.decode(bytes.subarray(start, start + n));
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, at);
    if (end < 0) fail('the pickle ends inside a GLOBAL');
    return utf8(end - at + 1).slice(0, -1);
  };
  const pop = () => (stack.length ? stack.pop() : fail('the pickle pops an empty stack'));
  const top = () => (stack.length ? stack[stack.length - 1] : fail('the pickle reads an empty stack'));
  /** The items pushed since the last MARK, which is removed. */
  const popMark = (): unknown[] => {
    const mark = stack.lastIndexOf(MARK);
    if (mark < 0) fail('the pickle has no MARK where one is needed');
    const items = stack.splice(mark);
    return items.slice(1);
  };
  const lookupGlobal = (module: string, name: string) => {
    const key = `${module} ${name}`;
    if (!options.globals.has(key))
      fail(
        `refusing to unpickle: it names the Python global ${module}.${name}, which a state_dict of tensors never needs (histoseek never runs code from a checkpoint)`,
      );
    return options.globals.get(key);
  };
  const setItems = (target: unknown, items: unknown[]) => {
    if (!(target instanceof Map)) return fail('the pickle sets items on something that is not a dict');
    for (let i = 0; i + 1 < items.length; i += 2) target.set(items[i], items[i + 1]);
  };
  const append = (target: unknown, items: unknown[]) => {
    if (!Array.isArray(target)) return fail('the pickle appends to something that is not a list');
    target.push(...items);
  };

  for (;;) {
    const opAt = at;
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('the pickle protocol is newer than 5');
        break;
      case 0x95: // FRAME (protocol 4): a length hint only
        u64();
        break;
      case 0x2e: // STOP
        return pop();
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x61: {
        // APPEND
        const item = pop();
        append(top(), [item]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x73: {
        // SETITEM
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(view.getInt32(need(4), true));
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: {
        // LONG1: n bytes, little-endian two's complement
        const n = u8();
        const start = need(n);
        let value = 0n;
        for (let i = n - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[start + i]);
        if (n > 0 && bytes[start + n - 1] & 0x80) value -= 1n << BigInt(8 * n);
        if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER))
          fail(`integer ${value} at byte ${opAt} is too large`);
        stack.push(Number(value));
        break;
      }
      case 0x47: // BINFLOAT: big-endian float64
        stack.push(view.getFloat64(need(8), false));
        break;
      case 0x58: // BINUNICODE
        stack.push(utf8(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8(u64()));
        break;
      case 0x63: {
        // GLOBAL: "module\nname\n"
        const module = line();
        stack.push(lookupGlobal(module, line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(lookupGlobal(module as string, name as string));
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const index = op === 0x68 ? u8() : u32();
        if (!memo.has(index)) fail(`the pickle refers to memo entry ${index}, never stored`);
        stack.push(memo.get(index));
        break;
      }
      case 0x51: // BINPERSID
        stack.push(options.persistentLoad(pop()));
        break;
      case 0x52: {
        // REDUCE: callable(*args)
        const args = pop();
        const callable = pop();
        if (!(callable instanceof PickleFunction) || !Array.isArray(args))
          fail(`REDUCE at byte ${opAt} calls something that is not an allowed function`);
        stack.push((callable as PickleFunction).call(args as unknown[]));
        break;
      }
      case 0x62: {
        // BUILD: sets an object's state. Only OrderedDict's attributes (torch's `_metadata`) come here; they are dropped.
        pop();
        if (!(top() instanceof Map)) fail(`BUILD at byte ${opAt} sets the state of an object that is not a dict`);
        break;
      }
      default:
        fail(
          `pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte ${opAt} is not one a state_dict uses; refusing the file`,
        );
    }
  }
}
