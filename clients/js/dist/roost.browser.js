/* roost-client 0.1.0: the client and cbor-x for browsers and bundlers, bundled by clients/js/build.mjs from src/ (edit those, then `npm run build`); licenses: LICENSES.txt */
var __create = Object.create;
var __defProp = Object.defineProperty;
var __getOwnPropDesc = Object.getOwnPropertyDescriptor;
var __getOwnPropNames = Object.getOwnPropertyNames;
var __getProtoOf = Object.getPrototypeOf;
var __hasOwnProp = Object.prototype.hasOwnProperty;
var __esm = (fn, res, err) => function __init() {
  if (err) throw err[0];
  try {
    return fn && (res = (0, fn[__getOwnPropNames(fn)[0]])(fn = 0)), res;
  } catch (e) {
    throw err = [e], e;
  }
};
var __commonJS = (cb, mod) => function __require() {
  try {
    return mod || (0, cb[__getOwnPropNames(cb)[0]])((mod = { exports: {} }).exports, mod), mod.exports;
  } catch (e) {
    throw mod = 0, e;
  }
};
var __export = (target2, all) => {
  for (var name in all)
    __defProp(target2, name, { get: all[name], enumerable: true });
};
var __copyProps = (to, from, except, desc) => {
  if (from && typeof from === "object" || typeof from === "function") {
    for (let key of __getOwnPropNames(from))
      if (!__hasOwnProp.call(to, key) && key !== except)
        __defProp(to, key, { get: () => from[key], enumerable: !(desc = __getOwnPropDesc(from, key)) || desc.enumerable });
  }
  return to;
};
var __toESM = (mod, isNodeMode, target2) => (target2 = mod != null ? __create(__getProtoOf(mod)) : {}, __copyProps(
  // If the importer is in node compatibility mode or this is not an ESM
  // file that has been converted to a CommonJS file using a Babel-
  // compatible transform (i.e. "__esModule" has not been set), then set
  // "default" to the CommonJS "module.exports" for node compatibility.
  isNodeMode || !mod || !mod.__esModule ? __defProp(target2, "default", { value: mod, enumerable: true }) : target2,
  mod
));

// node_modules/cbor-x/decode.js
function checkedRead() {
  try {
    arrayAllocationBudget = srcEnd - position;
    let result = read();
    if (bundledStrings) {
      if (position >= bundledStrings.postBundlePosition)
        throw new Error("Unexpected bundle position");
      position = bundledStrings.postBundlePosition;
      bundledStrings = null;
    }
    if (position == srcEnd) {
      currentStructures = null;
      src = null;
      if (referenceMap)
        referenceMap = null;
    } else if (position > srcEnd) {
      let error = new Error("Unexpected end of CBOR data");
      error.incomplete = true;
      throw error;
    } else if (!sequentialMode) {
      throw new Error("Data read, but end of buffer not reached");
    }
    return result;
  } catch (error) {
    clearSource();
    if (nestedDecodeErrors.has(error)) {
      if (error.incomplete)
        error.incomplete = false;
    } else if (error instanceof RangeError && position + 8 > srcEnd || error && typeof error.message == "string" && error.message.startsWith("Unexpected end of buffer")) {
      error.incomplete = true;
    }
    throw error;
  }
}
function readBreak() {
  if (position < srcEnd && src[position] === 255) {
    position++;
    return true;
  }
  return false;
}
function endOfCBORError(neededEnd) {
  let error = new Error("Unexpected end of CBOR data");
  error.incomplete = true;
  if (neededEnd)
    error.neededEnd = neededEnd;
  return error;
}
function read() {
  if (!(position < srcEnd)) throw endOfCBORError();
  let token = src[position++];
  let majorType = token >> 5;
  token = token & 31;
  if (token > 23) {
    switch (token) {
      case 24:
        if (position >= srcEnd) throw endOfCBORError();
        token = src[position++];
        break;
      case 25:
        if (majorType == 7) {
          return getFloat16();
        }
        token = dataView.getUint16(position);
        position += 2;
        break;
      case 26:
        if (majorType == 7) {
          let value = dataView.getFloat32(position);
          if (currentDecoder.useFloat32 > 2) {
            let multiplier = mult10[(src[position] & 127) << 1 | src[position + 1] >> 7];
            position += 4;
            return (multiplier * value + (value > 0 ? 0.5 : -0.5) >> 0) / multiplier;
          }
          position += 4;
          return value;
        }
        token = dataView.getUint32(position);
        position += 4;
        if (majorType === 1) return -1 - token;
        break;
      case 27:
        if (majorType == 7) {
          let value = dataView.getFloat64(position);
          position += 8;
          return value;
        }
        if (majorType > 1) {
          if (dataView.getUint32(position) > 0)
            throw new Error("JavaScript does not support arrays, maps, or strings with length over 4294967295");
          token = dataView.getUint32(position + 4);
        } else if (currentDecoder.int64AsNumber) {
          token = dataView.getUint32(position) * 4294967296;
          token += dataView.getUint32(position + 4);
          position += 8;
          if (majorType === 1) return -1 - token;
          break;
        } else token = dataView.getBigUint64(position);
        position += 8;
        break;
      case 31:
        switch (majorType) {
          case 2:
          // byte string
          case 3:
            throw new Error("Indefinite length not supported for byte or text strings");
          case 4:
            let array = [];
            let i = 0;
            while (!readBreak()) {
              if (i >= maxArraySize) throw new Error(`Array length exceeds ${maxArraySize}`);
              array[i++] = read();
            }
            return majorType == 4 ? array : majorType == 3 ? array.join("") : Buffer.concat(array);
          case 5:
            let key;
            if (currentDecoder.mapsAsObjects) {
              let object = {};
              let i2 = 0;
              if (currentDecoder.keyMap) {
                while (!readBreak()) {
                  key = read();
                  if (i2++ >= objectSizeLimit) throw new Error(`Property count exceeds ${objectSizeLimit}`);
                  object[safeKey(currentDecoder.decodeKey(key))] = read();
                }
              } else {
                while (!readBreak()) {
                  key = read();
                  if (i2++ >= objectSizeLimit) throw new Error(`Property count exceeds ${objectSizeLimit}`);
                  object[safeKey(key)] = read();
                }
              }
              return object;
            } else {
              if (restoreMapsAsObject) {
                currentDecoder.mapsAsObjects = true;
                restoreMapsAsObject = false;
              }
              let map = /* @__PURE__ */ new Map();
              if (currentDecoder.keyMap) {
                let i2 = 0;
                while (!readBreak()) {
                  key = read();
                  if (i2++ >= maxMapSize) {
                    throw new Error(`Map size exceeds ${maxMapSize}`);
                  }
                  map.set(currentDecoder.decodeKey(key), read());
                }
              } else {
                let i2 = 0;
                while (!readBreak()) {
                  key = read();
                  if (i2++ >= maxMapSize) {
                    throw new Error(`Map size exceeds ${maxMapSize}`);
                  }
                  map.set(key, read());
                }
              }
              return map;
            }
          case 7:
            throw new Error("Unexpected break stop code outside of an indefinite-length item");
          default:
            throw new Error("Invalid major type for indefinite length " + majorType);
        }
      default:
        throw new Error("Unknown token " + token);
    }
  }
  switch (majorType) {
    case 0:
      return token;
    case 1:
      return ~token;
    case 2:
      if (token > srcEnd - position) throw endOfCBORError(position + token);
      return readBin(token);
    case 3:
      if (srcStringEnd >= position) {
        return srcString.slice(position - srcStringStart, (position += token) - srcStringStart);
      }
      if (token > srcEnd - position) throw endOfCBORError(position + token);
      if (srcStringEnd == 0 && srcEnd < 140 && token < 32) {
        let string = token < 16 ? shortStringInJS(token) : longStringInJS(token);
        if (string != null)
          return string;
      }
      return readFixedString(token);
    case 4:
      if (token > maxArraySize) throw new Error(`Array length exceeds ${maxArraySize}`);
      if (token > srcEnd - position || (arrayAllocationBudget -= token) < 0) throw endOfCBORError(position + token);
      let array = new Array(token);
      for (let i = 0; i < token; i++) array[i] = read();
      return array;
    case 5:
      if (currentDecoder.mapsAsObjects) {
        if (token > objectSizeLimit) throw new Error(`Property count exceeds ${objectSizeLimit}`);
        if (token > (srcEnd - position) / 2) throw endOfCBORError(position + 2 * token);
        let object = {};
        if (currentDecoder.keyMap) for (let i = 0; i < token; i++) object[safeKey(currentDecoder.decodeKey(read()))] = read();
        else for (let i = 0; i < token; i++) object[safeKey(read())] = read();
        return object;
      } else {
        if (restoreMapsAsObject) {
          currentDecoder.mapsAsObjects = true;
          restoreMapsAsObject = false;
        }
        if (token > maxMapSize) throw new Error(`Map size exceeds ${maxMapSize}`);
        if (token > (srcEnd - position) / 2) throw endOfCBORError(position + 2 * token);
        let map = /* @__PURE__ */ new Map();
        if (currentDecoder.keyMap) for (let i = 0; i < token; i++) map.set(currentDecoder.decodeKey(read()), read());
        else for (let i = 0; i < token; i++) map.set(read(), read());
        return map;
      }
    case 6:
      if (token >= BUNDLED_STRINGS_ID) {
        let structure = currentStructures[token & 8191];
        if (structure) {
          if (!structure.read) structure.read = createStructureReader(structure);
          return structure.read();
        }
        if (token < 65536) {
          if (token == RECORD_INLINE_ID) {
            let length = readJustLength();
            let id = read();
            let structure2 = read();
            recordDefinition(id, structure2);
            let object = {};
            if (currentDecoder.keyMap) for (let i = 2; i < length; i++) {
              let key = currentDecoder.decodeKey(structure2[i - 2]);
              object[safeKey(key)] = read();
            }
            else for (let i = 2; i < length; i++) {
              let key = structure2[i - 2];
              object[safeKey(key)] = read();
            }
            return object;
          } else if (token == RECORD_DEFINITIONS_ID) {
            let length = readJustLength();
            let id = read();
            for (let i = 2; i < length; i++) {
              recordDefinition(id++, read());
            }
            return read();
          } else if (token == BUNDLED_STRINGS_ID) {
            return readBundleExt();
          }
          if (currentDecoder.getShared) {
            loadShared();
            structure = currentStructures[token & 8191];
            if (structure) {
              if (!structure.read)
                structure.read = createStructureReader(structure);
              return structure.read();
            }
          }
        }
      }
      let extension = currentExtensions[token];
      if (extension) {
        if (extension.handlesRead)
          return extension(read);
        else
          return extension(read());
      } else {
        let input = read();
        for (let i = 0; i < currentExtensionRanges.length; i++) {
          let value = currentExtensionRanges[i](token, input);
          if (value !== void 0)
            return value;
        }
        return new Tag(input, token);
      }
    case 7:
      switch (token) {
        case 20:
          return false;
        case 21:
          return true;
        case 22:
          return null;
        case 23:
          return;
        // undefined
        case 31:
        default:
          let packedValue = (packedValues || getPackedValues())[token];
          if (packedValue !== void 0)
            return packedValue;
          throw new Error("Unknown token " + token);
      }
    default:
      if (isNaN(token)) throw endOfCBORError();
      throw new Error("Unknown CBOR token " + token);
  }
}
function createStructureReader(structure) {
  if (!structure) throw new Error("Structure is required in record definition");
  function readObject() {
    let length = src[position++];
    length = length & 31;
    if (length > 23) {
      switch (length) {
        case 24:
          length = src[position++];
          break;
        case 25:
          length = dataView.getUint16(position);
          position += 2;
          break;
        case 26:
          length = dataView.getUint32(position);
          position += 4;
          break;
        default:
          throw new Error("Expected array header, but got " + src[position - 1]);
      }
    }
    let compiledReader = this.compiledReader;
    while (compiledReader) {
      if (compiledReader.propertyCount === length)
        return compiledReader(read);
      compiledReader = compiledReader.next;
    }
    if (this.slowReads++ >= inlineObjectReadThreshold) {
      let array = this.length == length ? this : this.slice(0, length);
      compiledReader = currentDecoder.keyMap ? new Function("r", "return {" + array.map((k) => currentDecoder.decodeKey(k)).map((k) => validName.test(k) ? safeKey(k) + ":r()" : "[" + JSON.stringify(k) + "]:r()").join(",") + "}") : new Function("r", "return {" + array.map((key) => validName.test(key) ? safeKey(key) + ":r()" : "[" + JSON.stringify(key) + "]:r()").join(",") + "}");
      if (this.compiledReader)
        compiledReader.next = this.compiledReader;
      compiledReader.propertyCount = length;
      this.compiledReader = compiledReader;
      return compiledReader(read);
    }
    let object = {};
    if (currentDecoder.keyMap) for (let i = 0; i < length; i++) object[safeKey(currentDecoder.decodeKey(this[i]))] = read();
    else for (let i = 0; i < length; i++) {
      object[safeKey(this[i])] = read();
    }
    return object;
  }
  structure.slowReads = 0;
  return readObject;
}
function safeKey(key) {
  if (typeof key === "string") return key === "__proto__" ? "__proto_" : key;
  if (typeof key === "number" || typeof key === "boolean" || typeof key === "bigint") return key.toString();
  if (key == null) return key + "";
  throw new Error("Invalid property name type " + typeof key);
}
function readStringJS(length) {
  let result;
  if (length < 16) {
    if (result = shortStringInJS(length))
      return result;
  }
  if (length > 64 && decoder)
    return decoder.decode(src.subarray(position, position += length));
  const end = position + length;
  const units = [];
  result = "";
  while (position < end) {
    const byte1 = src[position++];
    if ((byte1 & 128) === 0) {
      units.push(byte1);
    } else if ((byte1 & 224) === 192) {
      if (byte1 < 194 || position >= end || (src[position] & 192) !== 128) {
        units.push(65533);
      } else {
        const byte2 = src[position++] & 63;
        units.push((byte1 & 31) << 6 | byte2);
      }
    } else if ((byte1 & 240) === 224) {
      const byte2 = position < end ? src[position] : 0;
      if (position >= end || (byte2 & 192) !== 128 || byte1 === 224 && byte2 < 160 || byte1 === 237 && byte2 >= 160) {
        units.push(65533);
      } else {
        position++;
        if (position >= end || (src[position] & 192) !== 128) {
          units.push(65533);
        } else {
          const byte3 = src[position++] & 63;
          units.push((byte1 & 31) << 12 | (byte2 & 63) << 6 | byte3);
        }
      }
    } else if ((byte1 & 248) === 240) {
      const byte2 = position < end ? src[position] : 0;
      if (byte1 > 244 || position >= end || (byte2 & 192) !== 128 || byte1 === 240 && byte2 < 144 || byte1 === 244 && byte2 >= 144) {
        units.push(65533);
      } else {
        position++;
        if (position >= end || (src[position] & 192) !== 128) {
          units.push(65533);
        } else {
          const byte3 = src[position++] & 63;
          if (position >= end || (src[position] & 192) !== 128) {
            units.push(65533);
          } else {
            const byte4 = src[position++] & 63;
            let unit = (byte1 & 7) << 18 | (byte2 & 63) << 12 | byte3 << 6 | byte4;
            unit -= 65536;
            units.push(unit >>> 10 & 1023 | 55296);
            units.push(56320 | unit & 1023);
          }
        }
      }
    } else {
      units.push(65533);
    }
    if (units.length >= 4096) {
      result += fromCharCode.apply(String, units);
      units.length = 0;
    }
  }
  if (units.length > 0) {
    result += fromCharCode.apply(String, units);
  }
  return result;
}
function longStringInJS(length) {
  let start = position;
  let bytes = new Array(length);
  for (let i = 0; i < length; i++) {
    const byte = src[position++];
    if ((byte & 128) > 0) {
      position = start;
      return;
    }
    bytes[i] = byte;
  }
  return fromCharCode.apply(String, bytes);
}
function shortStringInJS(length) {
  if (length < 4) {
    if (length < 2) {
      if (length === 0)
        return "";
      else {
        let a = src[position++];
        if ((a & 128) > 1) {
          position -= 1;
          return;
        }
        return fromCharCode(a);
      }
    } else {
      let a = src[position++];
      let b = src[position++];
      if ((a & 128) > 0 || (b & 128) > 0) {
        position -= 2;
        return;
      }
      if (length < 3)
        return fromCharCode(a, b);
      let c = src[position++];
      if ((c & 128) > 0) {
        position -= 3;
        return;
      }
      return fromCharCode(a, b, c);
    }
  } else {
    let a = src[position++];
    let b = src[position++];
    let c = src[position++];
    let d = src[position++];
    if ((a & 128) > 0 || (b & 128) > 0 || (c & 128) > 0 || (d & 128) > 0) {
      position -= 4;
      return;
    }
    if (length < 6) {
      if (length === 4)
        return fromCharCode(a, b, c, d);
      else {
        let e = src[position++];
        if ((e & 128) > 0) {
          position -= 5;
          return;
        }
        return fromCharCode(a, b, c, d, e);
      }
    } else if (length < 8) {
      let e = src[position++];
      let f = src[position++];
      if ((e & 128) > 0 || (f & 128) > 0) {
        position -= 6;
        return;
      }
      if (length < 7)
        return fromCharCode(a, b, c, d, e, f);
      let g = src[position++];
      if ((g & 128) > 0) {
        position -= 7;
        return;
      }
      return fromCharCode(a, b, c, d, e, f, g);
    } else {
      let e = src[position++];
      let f = src[position++];
      let g = src[position++];
      let h = src[position++];
      if ((e & 128) > 0 || (f & 128) > 0 || (g & 128) > 0 || (h & 128) > 0) {
        position -= 8;
        return;
      }
      if (length < 10) {
        if (length === 8)
          return fromCharCode(a, b, c, d, e, f, g, h);
        else {
          let i = src[position++];
          if ((i & 128) > 0) {
            position -= 9;
            return;
          }
          return fromCharCode(a, b, c, d, e, f, g, h, i);
        }
      } else if (length < 12) {
        let i = src[position++];
        let j = src[position++];
        if ((i & 128) > 0 || (j & 128) > 0) {
          position -= 10;
          return;
        }
        if (length < 11)
          return fromCharCode(a, b, c, d, e, f, g, h, i, j);
        let k = src[position++];
        if ((k & 128) > 0) {
          position -= 11;
          return;
        }
        return fromCharCode(a, b, c, d, e, f, g, h, i, j, k);
      } else {
        let i = src[position++];
        let j = src[position++];
        let k = src[position++];
        let l = src[position++];
        if ((i & 128) > 0 || (j & 128) > 0 || (k & 128) > 0 || (l & 128) > 0) {
          position -= 12;
          return;
        }
        if (length < 14) {
          if (length === 12)
            return fromCharCode(a, b, c, d, e, f, g, h, i, j, k, l);
          else {
            let m = src[position++];
            if ((m & 128) > 0) {
              position -= 13;
              return;
            }
            return fromCharCode(a, b, c, d, e, f, g, h, i, j, k, l, m);
          }
        } else {
          let m = src[position++];
          let n = src[position++];
          if ((m & 128) > 0 || (n & 128) > 0) {
            position -= 14;
            return;
          }
          if (length < 15)
            return fromCharCode(a, b, c, d, e, f, g, h, i, j, k, l, m, n);
          let o = src[position++];
          if ((o & 128) > 0) {
            position -= 15;
            return;
          }
          return fromCharCode(a, b, c, d, e, f, g, h, i, j, k, l, m, n, o);
        }
      }
    }
  }
}
function readBin(length) {
  return currentDecoder.copyBuffers ? (
    // specifically use the copying slice (not the node one)
    Uint8Array.prototype.slice.call(src, position, position += length)
  ) : src.subarray(position, position += length);
}
function getFloat16() {
  let byte0 = src[position++];
  let byte1 = src[position++];
  let exponent = (byte0 & 127) >> 2;
  if (exponent === 31) {
    if (byte1 || byte0 & 3)
      return NaN;
    return byte0 & 128 ? -Infinity : Infinity;
  }
  if (exponent === 0) {
    let abs = ((byte0 & 3) << 8 | byte1) / (1 << 24);
    return byte0 & 128 ? -abs : abs;
  }
  u8Array[3] = byte0 & 128 | // sign bit
  (exponent >> 1) + 56;
  u8Array[2] = (byte0 & 7) << 5 | // last exponent bit and first two mantissa bits
  byte1 >> 3;
  u8Array[1] = byte1 << 5;
  u8Array[0] = 0;
  return f32Array[0];
}
function combine(a, b) {
  if (typeof a === "string")
    return a + b;
  if (a instanceof Array)
    return a.concat(b);
  return Object.assign({}, a, b);
}
function getPackedValues() {
  if (!packedValues) {
    if (currentDecoder.getShared)
      loadShared();
    else
      throw new Error("No packed values available");
  }
  return packedValues;
}
function registerTypedArray(TypedArray, tag) {
  let dvMethod = "get" + TypedArray.name.slice(0, -5);
  let bytesPerElement;
  if (typeof TypedArray === "function")
    bytesPerElement = TypedArray.BYTES_PER_ELEMENT;
  else
    TypedArray = null;
  for (let littleEndian = 0; littleEndian < 2; littleEndian++) {
    if (!littleEndian && bytesPerElement == 1)
      continue;
    let sizeShift = bytesPerElement == 2 ? 1 : bytesPerElement == 4 ? 2 : bytesPerElement == 8 ? 3 : 0;
    currentExtensions[littleEndian ? tag : tag - 4] = bytesPerElement == 1 || littleEndian == isLittleEndianMachine ? (buffer) => {
      if (!TypedArray)
        throw new Error("Could not find typed array for code " + tag);
      if (!currentDecoder.copyBuffers) {
        if (bytesPerElement === 1 || bytesPerElement === 2 && !(buffer.byteOffset & 1) || bytesPerElement === 4 && !(buffer.byteOffset & 3) || bytesPerElement === 8 && !(buffer.byteOffset & 7))
          return new TypedArray(buffer.buffer, buffer.byteOffset, buffer.byteLength >> sizeShift);
      }
      return new TypedArray(Uint8Array.prototype.slice.call(buffer, 0).buffer);
    } : (buffer) => {
      if (!TypedArray)
        throw new Error("Could not find typed array for code " + tag);
      let dv = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
      let elements = buffer.length >> sizeShift;
      let ta = new TypedArray(elements);
      let method = dv[dvMethod];
      for (let i = 0; i < elements; i++) {
        ta[i] = method.call(dv, i << sizeShift, littleEndian);
      }
      return ta;
    };
  }
}
function readBundleExt() {
  let length = readJustLength();
  let bundlePosition = position + read();
  for (let i = 2; i < length; i++) {
    let bundleLength = readJustLength();
    position += bundleLength;
  }
  let dataPosition = position;
  position = bundlePosition;
  bundledStrings = [readStringJS(readJustLength()), readStringJS(readJustLength())];
  bundledStrings.position0 = 0;
  bundledStrings.position1 = 0;
  bundledStrings.postBundlePosition = position;
  position = dataPosition;
  return read();
}
function readJustLength() {
  if (!(position < srcEnd)) throw endOfCBORError();
  let token = src[position++] & 31;
  if (token > 23) {
    switch (token) {
      case 24:
        if (position >= srcEnd) throw endOfCBORError();
        token = src[position++];
        break;
      case 25:
        if (position + 2 > srcEnd) throw endOfCBORError();
        token = dataView.getUint16(position);
        position += 2;
        break;
      case 26:
        if (position + 4 > srcEnd) throw endOfCBORError();
        token = dataView.getUint32(position);
        position += 4;
        break;
    }
  }
  return token;
}
function loadShared() {
  if (currentDecoder.getShared) {
    let sharedData = saveState(() => {
      src = null;
      return currentDecoder.getShared();
    }) || {};
    let updatedStructures = sharedData.structures || [];
    currentDecoder.sharedVersion = sharedData.version;
    packedValues = currentDecoder.sharedValues = sharedData.packedValues;
    if (currentStructures === true)
      currentDecoder.structures = currentStructures = updatedStructures;
    else
      currentStructures.splice.apply(currentStructures, [0, updatedStructures.length].concat(updatedStructures));
  }
}
function saveState(callback) {
  let savedFragmentEnd = fragmentEnd;
  let savedFragmentReader = fragmentReadString;
  let savedReadFixedString = readFixedString;
  let savedSrcEnd = srcEnd;
  let savedPosition = position;
  let savedStringPosition = stringPosition;
  let savedSrcStringStart = srcStringStart;
  let savedSrcStringEnd = srcStringEnd;
  let savedSrcString = srcString;
  let savedStrings = strings;
  let savedReferenceMap = referenceMap;
  let savedBundledStrings = bundledStrings;
  let savedPackedValues = packedValues;
  let savedSrc = new Uint8Array(src.slice(0, srcEnd));
  let savedStructures = currentStructures;
  let savedDecoder = currentDecoder;
  let savedSequentialMode = sequentialMode;
  let savedRestoreMapsAsObject = restoreMapsAsObject;
  let savedArrayAllocationBudget = arrayAllocationBudget;
  fragmentEnd = 0;
  if (fragmentReadString) readFixedString = fragmentReadString;
  fragmentReadString = null;
  restoreMapsAsObject = false;
  try {
    return callback();
  } catch (error) {
    if (error && (typeof error == "object" || typeof error == "function"))
      nestedDecodeErrors.add(error);
    throw error;
  } finally {
    fragmentEnd = savedFragmentEnd;
    fragmentReadString = savedFragmentReader;
    readFixedString = savedReadFixedString;
    srcEnd = savedSrcEnd;
    position = savedPosition;
    stringPosition = savedStringPosition;
    srcStringStart = savedSrcStringStart;
    srcStringEnd = savedSrcStringEnd;
    srcString = savedSrcString;
    strings = savedStrings;
    referenceMap = savedReferenceMap;
    bundledStrings = savedBundledStrings;
    packedValues = savedPackedValues;
    src = savedSrc;
    sequentialMode = savedSequentialMode;
    currentStructures = savedStructures;
    currentDecoder = savedDecoder;
    restoreMapsAsObject = savedRestoreMapsAsObject;
    arrayAllocationBudget = savedArrayAllocationBudget;
    dataView = new DataView(src.buffer, src.byteOffset, src.byteLength);
  }
}
function clearSource() {
  src = null;
  referenceMap = null;
  currentStructures = null;
}
function isBuiltinScanTag(tag) {
  return builtinScanTags.has(tag) && currentExtensions[tag] === builtinScanTags.get(tag);
}
function getScanTag(tag, decoder2) {
  return tag >= BUNDLED_STRINGS_ID && decoder2.structures && decoder2.structures[tag & 8191];
}
function checkScanContainer(major, length, mapsAsObjects) {
  if (major === 4) {
    if (length > maxArraySize) throw new Error(`Array length exceeds ${maxArraySize}`);
  } else if (mapsAsObjects) {
    if (length > objectSizeLimit) throw new Error(`Property count exceeds ${objectSizeLimit}`);
  } else if (length > maxMapSize) throw new Error(`Map size exceeds ${maxMapSize}`);
}
function decodeScanned(decoder2, source, end) {
  const boundStrings = isNativeAccelerationEnabled && end < source.length;
  if (!registeredExtensions.size && !boundStrings) return decoder2.decodeMultiple(source);
  const savedEnd = fragmentEnd;
  const savedReader = readFixedString;
  const savedFragmentReader = fragmentReadString;
  const originals = [];
  fragmentEnd = end;
  fragmentReadString = savedReader;
  try {
    if (boundStrings) readFixedString = (length) => {
      if (!fragmentEnd || position >= fragmentEnd) return savedReader(length);
      const savedSrcEnd = srcEnd;
      srcEnd = fragmentEnd;
      try {
        return savedReader(length);
      } finally {
        srcEnd = savedSrcEnd;
      }
    };
    for (const [tag, extension] of registeredExtensions) {
      if (!extension.handlesRead) continue;
      const original = currentExtensions[tag];
      const guarded = (read2) => {
        if (!fragmentEnd || position >= fragmentEnd) return extension(read2);
        let calls = 0, framingError;
        const value = extension(() => {
          if (calls++) {
            framingError = new Error("Tag " + tag + ": fragmented decoding cannot frame multi-item handlesRead extensions");
            throw framingError;
          }
          return read2();
        });
        if (framingError) throw framingError;
        return value;
      };
      guarded.handlesRead = true;
      originals.push([tag, original, guarded]);
      currentExtensions[tag] = guarded;
    }
    return decoder2.decodeMultiple(source);
  } finally {
    fragmentEnd = savedEnd;
    fragmentReadString = savedFragmentReader;
    readFixedString = savedReader;
    for (const [tag, original, guarded] of originals) {
      if (currentExtensions[tag] === guarded) currentExtensions[tag] = original;
    }
  }
}
function addExtension(extension) {
  currentExtensions[extension.tag] = extension.decode;
  if (typeof extension.decode === "function") registeredExtensions.set(extension.tag, extension.decode);
  else registeredExtensions.delete(extension.tag);
}
function setSizeLimits(limits) {
  if (limits.maxMapSize) maxMapSize = limits.maxMapSize;
  if (limits.maxArraySize) maxArraySize = limits.maxArraySize;
  if (limits.maxObjectSize) maxObjectSize = limits.maxObjectSize;
  objectSizeLimit = Math.min(maxObjectSize, maxMapSize);
}
function roundFloat32(float32Number) {
  f32Array[0] = float32Number;
  let multiplier = mult10[(u8Array[3] & 127) << 1 | u8Array[2] >> 7];
  return (multiplier * float32Number + (float32Number > 0 ? 0.5 : -0.5) >> 0) / multiplier;
}
var decoder, src, srcEnd, position, EMPTY_ARRAY, LEGACY_RECORD_INLINE_ID, RECORD_DEFINITIONS_ID, RECORD_INLINE_ID, BUNDLED_STRINGS_ID, PACKED_REFERENCE_TAG_ID, maxArraySize, maxMapSize, maxObjectSize, objectSizeLimit, strings, stringPosition, currentDecoder, currentStructures, srcString, srcStringStart, srcStringEnd, bundledStrings, referenceMap, currentExtensions, currentExtensionRanges, packedValues, dataView, restoreMapsAsObject, defaultOptions, sequentialMode, inlineObjectReadThreshold, Decoder, nestedDecodeErrors, arrayAllocationBudget, validName, readFixedString, isNativeAccelerationEnabled, fromCharCode, f32Array, u8Array, keyCache, Tag, recordDefinition, legacyRecordDefinition, glbl, packedTable, SHARED_DATA_TAG_ID, isLittleEndianMachine, typedArrays, typedArrayTags, registeredExtensions, fragmentEnd, fragmentReadString, builtinScanTags, _stream, mult10, defaultDecoder, decode, decodeMultiple, FLOAT32_OPTIONS;
var init_decode = __esm({
  "node_modules/cbor-x/decode.js"() {
    try {
      decoder = new TextDecoder();
    } catch (error) {
    }
    position = 0;
    EMPTY_ARRAY = [];
    LEGACY_RECORD_INLINE_ID = 105;
    RECORD_DEFINITIONS_ID = 57342;
    RECORD_INLINE_ID = 57343;
    BUNDLED_STRINGS_ID = 57337;
    PACKED_REFERENCE_TAG_ID = 6;
    maxArraySize = 11281e4;
    maxMapSize = 1681e4;
    maxObjectSize = 1671e4;
    objectSizeLimit = maxObjectSize;
    strings = EMPTY_ARRAY;
    stringPosition = 0;
    currentDecoder = {};
    srcStringStart = 0;
    srcStringEnd = 0;
    currentExtensions = [];
    currentExtensionRanges = [];
    defaultOptions = {
      useRecords: false,
      mapsAsObjects: true
    };
    sequentialMode = false;
    inlineObjectReadThreshold = 2;
    try {
      new Function("");
    } catch (error) {
      inlineObjectReadThreshold = Infinity;
    }
    Decoder = class _Decoder {
      constructor(options) {
        if (options) {
          if ((options.keyMap || options._keyMap) && !options.useRecords) {
            options.useRecords = false;
            options.mapsAsObjects = true;
          }
          if (options.useRecords === false && options.mapsAsObjects === void 0)
            options.mapsAsObjects = true;
          if (options.getStructures)
            options.getShared = options.getStructures;
          if (options.getShared && !options.structures)
            (options.structures = []).uninitialized = true;
          if (options.keyMap) {
            this.mapKey = /* @__PURE__ */ new Map();
            for (let [k, v] of Object.entries(options.keyMap)) this.mapKey.set(v, k);
          }
        }
        Object.assign(this, options);
      }
      /*
      decodeKey(key) {
      	return this.keyMap
      		? Object.keys(this.keyMap)[Object.values(this.keyMap).indexOf(key)] || key
      		: key
      }
      */
      decodeKey(key) {
        return this.keyMap ? this.mapKey.get(key) || key : key;
      }
      encodeKey(key) {
        return this.keyMap && this.keyMap.hasOwnProperty(key) ? this.keyMap[key] : key;
      }
      encodeKeys(rec) {
        if (!this._keyMap) return rec;
        let map = /* @__PURE__ */ new Map();
        for (let [k, v] of Object.entries(rec)) map.set(this._keyMap.hasOwnProperty(k) ? this._keyMap[k] : k, v);
        return map;
      }
      decodeKeys(map) {
        if (!this._keyMap || map.constructor.name != "Map") return map;
        if (!this._mapKey) {
          this._mapKey = /* @__PURE__ */ new Map();
          for (let [k, v] of Object.entries(this._keyMap)) this._mapKey.set(v, k);
        }
        let res = {};
        map.forEach((v, k) => res[safeKey(this._mapKey.has(k) ? this._mapKey.get(k) : k)] = v);
        return res;
      }
      mapDecode(source, end) {
        let res = this.decode(source);
        if (this._keyMap) {
          switch (res.constructor.name) {
            case "Array":
              return res.map((r) => this.decodeKeys(r));
          }
        }
        return res;
      }
      decode(source, end) {
        if (src) {
          return saveState(() => {
            clearSource();
            return this ? this.decode(source, end) : _Decoder.prototype.decode.call(defaultOptions, source, end);
          });
        }
        srcEnd = end > -1 && end < source.length ? end : source.length;
        position = 0;
        stringPosition = 0;
        srcStringEnd = 0;
        srcString = null;
        strings = EMPTY_ARRAY;
        bundledStrings = null;
        src = source;
        try {
          dataView = source.dataView || (source.dataView = new DataView(source.buffer, source.byteOffset, source.byteLength));
        } catch (error) {
          src = null;
          if (source instanceof Uint8Array)
            throw error;
          throw new Error("Source must be a Uint8Array or Buffer but was a " + (source && typeof source == "object" ? source.constructor.name : typeof source));
        }
        if (this instanceof _Decoder) {
          currentDecoder = this;
          packedValues = this.sharedValues && (this.pack ? new Array(this.maxPrivatePackedValues || 16).concat(this.sharedValues) : this.sharedValues);
          if (this.structures) {
            currentStructures = this.structures;
            return checkedRead();
          } else if (!currentStructures || currentStructures.length > 0) {
            currentStructures = [];
          }
        } else {
          currentDecoder = defaultOptions;
          if (!currentStructures || currentStructures.length > 0)
            currentStructures = [];
          packedValues = null;
        }
        return checkedRead();
      }
      decodeMultiple(source, forEach) {
        if (src) {
          return saveState(() => {
            clearSource();
            return this ? this.decodeMultiple(source, forEach) : defaultDecoder.decodeMultiple(source, forEach);
          });
        }
        let values, lastPosition = 0;
        try {
          let size = source.length;
          sequentialMode = true;
          let value = this ? this.decode(source, size) : defaultDecoder.decode(source, size);
          if (forEach) {
            let end = position;
            if (forEach(value) === false) {
              return;
            }
            while (end < size) {
              lastPosition = end;
              value = checkedRead();
              end = position;
              if (forEach(value) === false) {
                return;
              }
            }
          } else {
            values = [value];
            while (position < size) {
              lastPosition = position;
              values.push(checkedRead());
            }
            return values;
          }
        } catch (error) {
          if (error && (typeof error == "object" || typeof error == "function")) {
            error.lastPosition = lastPosition;
            error.values = values;
          }
          throw error;
        } finally {
          sequentialMode = false;
          clearSource();
        }
      }
    };
    nestedDecodeErrors = /* @__PURE__ */ new WeakSet();
    validName = /^[a-zA-Z_$][a-zA-Z\d_$]*$/;
    readFixedString = readStringJS;
    isNativeAccelerationEnabled = false;
    fromCharCode = String.fromCharCode;
    f32Array = new Float32Array(1);
    u8Array = new Uint8Array(f32Array.buffer, 0, 4);
    keyCache = new Array(4096);
    Tag = class {
      constructor(value, tag) {
        this.value = value;
        this.tag = tag;
      }
    };
    currentExtensions[0] = (dateString) => {
      return new Date(dateString);
    };
    currentExtensions[1] = (epochSec) => {
      return new Date(Math.round(epochSec * 1e3));
    };
    currentExtensions[2] = (buffer) => {
      let value = BigInt(0);
      for (let i = 0, l = buffer.byteLength; i < l; i++) {
        value = BigInt(buffer[i]) + (value << BigInt(8));
      }
      return value;
    };
    currentExtensions[3] = (buffer) => {
      return BigInt(-1) - currentExtensions[2](buffer);
    };
    currentExtensions[4] = (fraction) => {
      return +(fraction[1] + "e" + fraction[0]);
    };
    currentExtensions[5] = (fraction) => {
      return fraction[1] * Math.exp(fraction[0] * Math.log(2));
    };
    recordDefinition = (id, structure) => {
      id = id - 57344;
      let existingStructure = currentStructures[id];
      if (existingStructure && existingStructure.isShared) {
        (currentStructures.restoreStructures || (currentStructures.restoreStructures = []))[id] = existingStructure;
      }
      currentStructures[id] = structure;
      structure.read = createStructureReader(structure);
    };
    currentExtensions[LEGACY_RECORD_INLINE_ID] = (data) => {
      let length = data.length;
      let structure = data[1];
      recordDefinition(data[0], structure);
      let object = {};
      for (let i = 2; i < length; i++) {
        let key = structure[i - 2];
        object[safeKey(key)] = data[i];
      }
      return object;
    };
    legacyRecordDefinition = currentExtensions[LEGACY_RECORD_INLINE_ID];
    currentExtensions[14] = (value) => {
      if (bundledStrings)
        return bundledStrings[0].slice(bundledStrings.position0, bundledStrings.position0 += value);
      return new Tag(value, 14);
    };
    currentExtensions[15] = (value) => {
      if (bundledStrings)
        return bundledStrings[1].slice(bundledStrings.position1, bundledStrings.position1 += value);
      return new Tag(value, 15);
    };
    glbl = { Error, RegExp };
    currentExtensions[27] = (data) => {
      return (glbl[data[0]] || Error)(data[1], data[2]);
    };
    packedTable = (read2) => {
      if (!(position < srcEnd)) throw endOfCBORError();
      if (src[position++] != 132)
        throw new Error("Packed values structure must be followed by a 4 element array");
      let newPackedValues = read2();
      if (!Array.isArray(newPackedValues) || !newPackedValues.length)
        throw new Error("Packed values structure must be followed by a 4 element array");
      packedValues = packedValues ? newPackedValues.concat(packedValues.slice(newPackedValues.length)) : newPackedValues;
      packedValues.prefixes = read2();
      packedValues.suffixes = read2();
      return read2();
    };
    packedTable.handlesRead = true;
    currentExtensions[51] = packedTable;
    currentExtensions[PACKED_REFERENCE_TAG_ID] = (data) => {
      if (!packedValues) {
        if (currentDecoder.getShared)
          loadShared();
        else
          return new Tag(data, PACKED_REFERENCE_TAG_ID);
      }
      if (typeof data == "number")
        return packedValues[16 + (data >= 0 ? 2 * data : -2 * data - 1)];
      throw new Error("No support for non-integer packed references yet");
    };
    currentExtensions[28] = (read2) => {
      if (!referenceMap) {
        referenceMap = /* @__PURE__ */ new Map();
        referenceMap.id = 0;
      }
      let id = referenceMap.id++;
      let startingPosition = position;
      let token = src[position];
      let target2;
      if (token >> 5 == 4)
        target2 = [];
      else
        target2 = {};
      let refEntry = { target: target2 };
      referenceMap.set(id, refEntry);
      let targetProperties = read2();
      if (refEntry.used) {
        if (Object.getPrototypeOf(target2) !== Object.getPrototypeOf(targetProperties)) {
          position = startingPosition;
          target2 = targetProperties;
          referenceMap.set(id, { target: target2 });
          targetProperties = read2();
        }
        return Object.assign(target2, targetProperties);
      }
      refEntry.target = targetProperties;
      return targetProperties;
    };
    currentExtensions[28].handlesRead = true;
    currentExtensions[29] = (id) => {
      let refEntry = referenceMap.get(id);
      refEntry.used = true;
      return refEntry.target;
    };
    currentExtensions[258] = (array) => new Set(array);
    (currentExtensions[259] = (read2) => {
      let decoder2 = currentDecoder;
      if (decoder2.mapsAsObjects) {
        decoder2.mapsAsObjects = false;
        restoreMapsAsObject = true;
        try {
          return read2();
        } finally {
          if (restoreMapsAsObject) {
            decoder2.mapsAsObjects = true;
            restoreMapsAsObject = false;
          }
        }
      }
      return read2();
    }).handlesRead = true;
    SHARED_DATA_TAG_ID = 1399353956;
    currentExtensionRanges.push((tag, input) => {
      if (tag >= 225 && tag <= 255)
        return combine(getPackedValues().prefixes[tag - 224], input);
      if (tag >= 28704 && tag <= 32767)
        return combine(getPackedValues().prefixes[tag - 28672], input);
      if (tag >= 1879052288 && tag <= 2147483647)
        return combine(getPackedValues().prefixes[tag - 1879048192], input);
      if (tag >= 216 && tag <= 223)
        return combine(input, getPackedValues().suffixes[tag - 216]);
      if (tag >= 27647 && tag <= 28671)
        return combine(input, getPackedValues().suffixes[tag - 27639]);
      if (tag >= 1811940352 && tag <= 1879048191)
        return combine(input, getPackedValues().suffixes[tag - 1811939328]);
      if (tag == SHARED_DATA_TAG_ID) {
        return {
          packedValues,
          structures: currentStructures.slice(0),
          version: input
        };
      }
      if (tag == 55799)
        return input;
    });
    isLittleEndianMachine = new Uint8Array(new Uint16Array([1]).buffer)[0] == 1;
    typedArrays = [
      Uint8Array,
      Uint8ClampedArray,
      Uint16Array,
      Uint32Array,
      typeof BigUint64Array == "undefined" ? { name: "BigUint64Array" } : BigUint64Array,
      Int8Array,
      Int16Array,
      Int32Array,
      typeof BigInt64Array == "undefined" ? { name: "BigInt64Array" } : BigInt64Array,
      Float32Array,
      Float64Array
    ];
    typedArrayTags = [64, 68, 69, 70, 71, 72, 77, 78, 79, 85, 86];
    for (let i = 0; i < typedArrays.length; i++) {
      registerTypedArray(typedArrays[i], typedArrayTags[i]);
    }
    registeredExtensions = /* @__PURE__ */ new Map();
    fragmentEnd = 0;
    builtinScanTags = /* @__PURE__ */ new Map([[LEGACY_RECORD_INLINE_ID, legacyRecordDefinition], [259, currentExtensions[259]]]);
    _stream = {
      getTag: getScanTag,
      isBuiltinTag: isBuiltinScanTag,
      checkContainer: checkScanContainer,
      decode: decodeScanned,
      get readThreshold() {
        return inlineObjectReadThreshold;
      }
    };
    mult10 = new Array(147);
    for (let i = 0; i < 256; i++) {
      mult10[i] = +("1e" + Math.floor(45.15 - i * 0.30103));
    }
    defaultDecoder = new Decoder({ useRecords: false });
    decode = defaultDecoder.decode;
    decodeMultiple = defaultDecoder.decodeMultiple;
    FLOAT32_OPTIONS = {
      NEVER: 0,
      ALWAYS: 1,
      DECIMAL_ROUND: 3,
      DECIMAL_FIT: 4
    };
  }
});

// node_modules/cbor-x/encode.js
function writeEntityLength(length, majorValue) {
  if (length < 24)
    target[position2++] = majorValue | length;
  else if (length < 256) {
    target[position2++] = majorValue | 24;
    target[position2++] = length;
  } else if (length < 65536) {
    target[position2++] = majorValue | 25;
    target[position2++] = length >> 8;
    target[position2++] = length & 255;
  } else {
    target[position2++] = majorValue | 26;
    targetView.setUint32(position2, length);
    position2 += 4;
  }
}
function writeArrayHeader(length) {
  if (length < 24)
    target[position2++] = 128 | length;
  else if (length < 256) {
    target[position2++] = 152;
    target[position2++] = length;
  } else if (length < 65536) {
    target[position2++] = 153;
    target[position2++] = length >> 8;
    target[position2++] = length & 255;
  } else {
    target[position2++] = 154;
    targetView.setUint32(position2, length);
    position2 += 4;
  }
}
function isBlob(object) {
  if (object instanceof BlobConstructor)
    return true;
  let tag = object[Symbol.toStringTag];
  return tag === "Blob" || tag === "File";
}
function findRepetitiveStrings(value, packedValues2) {
  switch (typeof value) {
    case "string":
      if (value.length > 3) {
        if (packedValues2.objectMap[value] > -1 || packedValues2.values.length >= packedValues2.maxValues)
          return;
        let packedStatus = packedValues2.get(value);
        if (packedStatus) {
          if (++packedStatus.count == 2) {
            packedValues2.values.push(value);
          }
        } else {
          packedValues2.set(value, {
            count: 1
          });
          if (packedValues2.samplingPackedValues) {
            let status = packedValues2.samplingPackedValues.get(value);
            if (status)
              status.count++;
            else
              packedValues2.samplingPackedValues.set(value, {
                count: 1
              });
          }
        }
      }
      break;
    case "object":
      if (value) {
        if (value instanceof Array) {
          for (let i = 0, l = value.length; i < l; i++) {
            findRepetitiveStrings(value[i], packedValues2);
          }
        } else {
          let includeKeys = !packedValues2.encoder.useRecords;
          for (var key in value) {
            if (value.hasOwnProperty(key)) {
              if (includeKeys)
                findRepetitiveStrings(key, packedValues2);
              findRepetitiveStrings(value[key], packedValues2);
            }
          }
        }
      }
      break;
    case "function":
      console.log(value);
  }
}
function typedArrayEncoder(tag, size) {
  if (!isLittleEndianMachine2 && size > 1)
    tag -= 4;
  return {
    tag,
    encode: function writeExtBuffer(typedArray, encode2) {
      let length = typedArray.byteLength;
      let offset = typedArray.byteOffset || 0;
      let buffer = typedArray.buffer || typedArray;
      encode2(hasNodeBuffer ? Buffer2.from(buffer, offset, length) : new Uint8Array(buffer, offset, length));
    }
  };
}
function writeBuffer(buffer, makeRoom) {
  let length = buffer.byteLength;
  if (length < 24) {
    target[position2++] = 64 + length;
  } else if (length < 256) {
    target[position2++] = 88;
    target[position2++] = length;
  } else if (length < 65536) {
    target[position2++] = 89;
    target[position2++] = length >> 8;
    target[position2++] = length & 255;
  } else {
    target[position2++] = 90;
    targetView.setUint32(position2, length);
    position2 += 4;
  }
  if (position2 + length >= target.length) {
    makeRoom(position2 + length);
  }
  target.set(buffer.buffer ? buffer : new Uint8Array(buffer), position2);
  position2 += length;
}
function insertIds(serialized, idsToInsert) {
  let nextId;
  let distanceToMove = idsToInsert.length * 2;
  let lastEnd = serialized.length - distanceToMove;
  idsToInsert.sort((a, b) => a.offset > b.offset ? 1 : -1);
  for (let id = 0; id < idsToInsert.length; id++) {
    let referee = idsToInsert[id];
    referee.id = id;
    for (let position3 of referee.references) {
      serialized[position3++] = id >> 8;
      serialized[position3] = id & 255;
    }
  }
  while (nextId = idsToInsert.pop()) {
    let offset = nextId.offset;
    serialized.copyWithin(offset + distanceToMove, offset, lastEnd);
    distanceToMove -= 2;
    let position3 = offset + distanceToMove;
    serialized[position3++] = 216;
    serialized[position3++] = 28;
    lastEnd = offset;
  }
  return serialized;
}
function writeBundles(start, encode2) {
  targetView.setUint32(bundledStrings2.position + start, position2 - bundledStrings2.position - start + 1);
  let writeStrings = bundledStrings2;
  bundledStrings2 = null;
  encode2(writeStrings[0]);
  encode2(writeStrings[1]);
}
function addExtension2(extension) {
  if (extension.Class) {
    if (!extension.encode)
      throw new Error("Extension has no encode function");
    extensionClasses.unshift(extension.Class);
    extensions.unshift(extension);
  }
  addExtension(extension);
}
var textEncoder, extensions, extensionClasses, Buffer2, hasNodeBuffer, ByteArrayAllocate, ByteArray, MAX_STRUCTURES, MAX_BUFFER_SIZE, throwOnIterable, target, targetView, position2, safeEnd, bundledStrings2, MAX_BUNDLE_SIZE, hasNonLatin, RECORD_SYMBOL, Encoder, SharedData, BlobConstructor, isLittleEndianMachine2, defaultEncoder, encode, encodeAsIterable, encodeAsAsyncIterable, NEVER, ALWAYS, DECIMAL_ROUND, DECIMAL_FIT, REUSE_BUFFER_MODE, RESET_BUFFER_MODE, THROW_ON_ITERABLE;
var init_encode = __esm({
  "node_modules/cbor-x/encode.js"() {
    init_decode();
    init_decode();
    init_decode();
    try {
      textEncoder = new TextEncoder();
    } catch (error) {
    }
    Buffer2 = typeof globalThis === "object" && globalThis.Buffer;
    hasNodeBuffer = typeof Buffer2 !== "undefined";
    ByteArrayAllocate = hasNodeBuffer ? Buffer2.allocUnsafeSlow : Uint8Array;
    ByteArray = hasNodeBuffer ? Buffer2 : Uint8Array;
    MAX_STRUCTURES = 256;
    MAX_BUFFER_SIZE = hasNodeBuffer ? 4294967296 : 2144337920;
    position2 = 0;
    bundledStrings2 = null;
    MAX_BUNDLE_SIZE = 61440;
    hasNonLatin = /[\u0080-\uFFFF]/;
    RECORD_SYMBOL = /* @__PURE__ */ Symbol("record-id");
    Encoder = class extends Decoder {
      constructor(options) {
        super(options);
        this.offset = 0;
        let typeBuffer;
        let start;
        let sharedStructures;
        let hasSharedUpdate;
        let structures;
        let referenceMap2;
        options = options || {};
        let encodeUtf8 = ByteArray.prototype.utf8Write ? function(string, position3) {
          return target.utf8Write(string, position3, target.byteLength - position3);
        } : textEncoder && textEncoder.encodeInto ? function(string, position3) {
          return textEncoder.encodeInto(string, target.subarray(position3)).written;
        } : false;
        let encoder = this;
        let hasSharedStructures = options.structures || options.saveStructures;
        let maxSharedStructures = options.maxSharedStructures;
        if (maxSharedStructures == null)
          maxSharedStructures = hasSharedStructures ? 128 : 0;
        if (maxSharedStructures > 8190)
          throw new Error("Maximum maxSharedStructure is 8190");
        let isSequential = options.sequential;
        if (isSequential) {
          maxSharedStructures = 0;
        }
        if (!this.structures)
          this.structures = [];
        if (this.saveStructures)
          this.saveShared = this.saveStructures;
        let samplingPackedValues, packedObjectMap2, sharedValues = options.sharedValues;
        let sharedPackedObjectMap2;
        if (sharedValues) {
          sharedPackedObjectMap2 = /* @__PURE__ */ Object.create(null);
          for (let i = 0, l = sharedValues.length; i < l; i++) {
            sharedPackedObjectMap2[sharedValues[i]] = i;
          }
        }
        let recordIdsToRemove = [];
        let transitionsCount = 0;
        let serializationsSinceTransitionRebuild = 0;
        this.mapEncode = function(value, encodeOptions) {
          if (this._keyMap && !this._mapped) {
            switch (value.constructor.name) {
              case "Array":
                value = value.map((r) => this.encodeKeys(r));
                break;
            }
          }
          return this.encode(value, encodeOptions);
        };
        this.encode = function(value, encodeOptions) {
          if (!target) {
            target = new ByteArrayAllocate(8192);
            targetView = new DataView(target.buffer, 0, 8192);
            position2 = 0;
          }
          safeEnd = target.length - 10;
          if (safeEnd - position2 < 2048) {
            target = new ByteArrayAllocate(target.length);
            targetView = new DataView(target.buffer, 0, target.length);
            safeEnd = target.length - 10;
            position2 = 0;
          } else if (encodeOptions === REUSE_BUFFER_MODE)
            position2 = position2 + 7 & 2147483640;
          start = position2;
          if (encoder.useSelfDescribedHeader) {
            targetView.setUint32(position2, 3654940416);
            position2 += 3;
          }
          referenceMap2 = encoder.structuredClone ? /* @__PURE__ */ new Map() : null;
          if (encoder.bundleStrings && typeof value !== "string") {
            bundledStrings2 = [];
            bundledStrings2.size = Infinity;
          } else
            bundledStrings2 = null;
          sharedStructures = encoder.structures;
          if (sharedStructures) {
            if (sharedStructures.uninitialized) {
              let sharedData = encoder.getShared() || {};
              encoder.structures = sharedStructures = sharedData.structures || [];
              encoder.sharedVersion = sharedData.version;
              let sharedValues2 = encoder.sharedValues = sharedData.packedValues;
              if (sharedValues2) {
                sharedPackedObjectMap2 = {};
                for (let i = 0, l = sharedValues2.length; i < l; i++)
                  sharedPackedObjectMap2[sharedValues2[i]] = i;
              }
            }
            let sharedStructuresLength = sharedStructures.length;
            if (sharedStructuresLength > maxSharedStructures && !isSequential)
              sharedStructuresLength = maxSharedStructures;
            if (!sharedStructures.transitions) {
              sharedStructures.transitions = /* @__PURE__ */ Object.create(null);
              for (let i = 0; i < sharedStructuresLength; i++) {
                let keys = sharedStructures[i];
                if (!keys)
                  continue;
                let nextTransition, transition = sharedStructures.transitions;
                for (let j = 0, l = keys.length; j < l; j++) {
                  if (transition[RECORD_SYMBOL] === void 0)
                    transition[RECORD_SYMBOL] = i;
                  let key = keys[j];
                  nextTransition = transition[key];
                  if (!nextTransition) {
                    nextTransition = transition[key] = /* @__PURE__ */ Object.create(null);
                  }
                  transition = nextTransition;
                }
                transition[RECORD_SYMBOL] = i | 1048576;
              }
            }
            if (!isSequential)
              sharedStructures.nextId = sharedStructuresLength;
          }
          if (hasSharedUpdate)
            hasSharedUpdate = false;
          structures = sharedStructures || [];
          packedObjectMap2 = sharedPackedObjectMap2;
          if (options.pack) {
            let packedValues2 = /* @__PURE__ */ new Map();
            packedValues2.values = [];
            packedValues2.encoder = encoder;
            packedValues2.maxValues = options.maxPrivatePackedValues || (sharedPackedObjectMap2 ? 16 : Infinity);
            packedValues2.objectMap = sharedPackedObjectMap2 || false;
            packedValues2.samplingPackedValues = samplingPackedValues;
            findRepetitiveStrings(value, packedValues2);
            if (packedValues2.values.length > 0) {
              target[position2++] = 216;
              target[position2++] = 51;
              writeArrayHeader(4);
              let valuesArray = packedValues2.values;
              encode2(valuesArray);
              writeArrayHeader(0);
              writeArrayHeader(0);
              packedObjectMap2 = Object.create(sharedPackedObjectMap2 || null);
              for (let i = 0, l = valuesArray.length; i < l; i++) {
                packedObjectMap2[valuesArray[i]] = i;
              }
            }
          }
          throwOnIterable = encodeOptions & THROW_ON_ITERABLE;
          try {
            if (throwOnIterable)
              return;
            encode2(value);
            if (bundledStrings2 && bundledStrings2.position) {
              writeBundles(start, encode2);
            }
            encoder.offset = position2;
            if (referenceMap2 && referenceMap2.idsToInsert) {
              position2 += referenceMap2.idsToInsert.length * 2;
              if (position2 > safeEnd)
                makeRoom(position2);
              encoder.offset = position2;
              let serialized = insertIds(target.subarray(start, position2), referenceMap2.idsToInsert);
              referenceMap2 = null;
              return serialized;
            }
            if (encodeOptions & REUSE_BUFFER_MODE) {
              target.start = start;
              target.end = position2;
              return target;
            }
            return target.subarray(start, position2);
          } finally {
            if (sharedStructures) {
              if (serializationsSinceTransitionRebuild < 10)
                serializationsSinceTransitionRebuild++;
              if (sharedStructures.length > maxSharedStructures)
                sharedStructures.length = maxSharedStructures;
              if (transitionsCount > 1e4) {
                sharedStructures.transitions = null;
                serializationsSinceTransitionRebuild = 0;
                transitionsCount = 0;
                if (recordIdsToRemove.length > 0)
                  recordIdsToRemove = [];
              } else if (recordIdsToRemove.length > 0 && !isSequential) {
                for (let i = 0, l = recordIdsToRemove.length; i < l; i++) {
                  recordIdsToRemove[i][RECORD_SYMBOL] = void 0;
                }
                recordIdsToRemove = [];
              }
            }
            if (hasSharedUpdate && encoder.saveShared) {
              if (encoder.structures.length > maxSharedStructures) {
                encoder.structures = encoder.structures.slice(0, maxSharedStructures);
              }
              let returnBuffer = target.subarray(start, position2);
              if (encoder.updateSharedData() === false)
                return encoder.encode(value);
              return returnBuffer;
            }
            if (encodeOptions & RESET_BUFFER_MODE)
              position2 = start;
          }
        };
        this.findCommonStringsToPack = () => {
          samplingPackedValues = /* @__PURE__ */ new Map();
          if (!sharedPackedObjectMap2)
            sharedPackedObjectMap2 = /* @__PURE__ */ Object.create(null);
          return (options2) => {
            let threshold = options2 && options2.threshold || 4;
            let position3 = this.pack ? options2.maxPrivatePackedValues || 16 : 0;
            if (!sharedValues)
              sharedValues = this.sharedValues = [];
            for (let [key, status] of samplingPackedValues) {
              if (status.count > threshold) {
                sharedPackedObjectMap2[key] = position3++;
                sharedValues.push(key);
                hasSharedUpdate = true;
              }
            }
            while (this.saveShared && this.updateSharedData() === false) {
            }
            samplingPackedValues = null;
          };
        };
        const encode2 = (value) => {
          if (position2 > safeEnd)
            target = makeRoom(position2);
          var type = typeof value;
          var length;
          if (type === "string") {
            if (packedObjectMap2) {
              let packedPosition = packedObjectMap2[value];
              if (packedPosition >= 0) {
                if (packedPosition < 16)
                  target[position2++] = packedPosition + 224;
                else {
                  target[position2++] = 198;
                  if (packedPosition & 1)
                    encode2(15 - packedPosition >> 1);
                  else
                    encode2(packedPosition - 16 >> 1);
                }
                return;
              } else if (samplingPackedValues && !options.pack) {
                let status = samplingPackedValues.get(value);
                if (status)
                  status.count++;
                else
                  samplingPackedValues.set(value, {
                    count: 1
                  });
              }
            }
            let strLength = value.length;
            if (bundledStrings2 && strLength >= 4 && strLength < 1024) {
              if ((bundledStrings2.size += strLength) > MAX_BUNDLE_SIZE) {
                let extStart;
                let maxBytes2 = (bundledStrings2[0] ? bundledStrings2[0].length * 3 + bundledStrings2[1].length : 0) + 10;
                if (position2 + maxBytes2 > safeEnd)
                  target = makeRoom(position2 + maxBytes2);
                target[position2++] = 217;
                target[position2++] = 223;
                target[position2++] = 249;
                target[position2++] = bundledStrings2.position ? 132 : 130;
                target[position2++] = 26;
                extStart = position2 - start;
                position2 += 4;
                if (bundledStrings2.position) {
                  writeBundles(start, encode2);
                }
                bundledStrings2 = ["", ""];
                bundledStrings2.size = 0;
                bundledStrings2.position = extStart;
              }
              let twoByte = hasNonLatin.test(value);
              bundledStrings2[twoByte ? 0 : 1] += value;
              target[position2++] = twoByte ? 206 : 207;
              encode2(strLength);
              return;
            }
            let headerSize;
            if (strLength < 32) {
              headerSize = 1;
            } else if (strLength < 256) {
              headerSize = 2;
            } else if (strLength < 65536) {
              headerSize = 3;
            } else {
              headerSize = 5;
            }
            let maxBytes = strLength * 3;
            if (position2 + maxBytes > safeEnd)
              target = makeRoom(position2 + maxBytes);
            if (strLength < 64 || !encodeUtf8) {
              let i, c1, c2, strPosition = position2 + headerSize;
              for (i = 0; i < strLength; i++) {
                c1 = value.charCodeAt(i);
                if (c1 < 128) {
                  target[strPosition++] = c1;
                } else if (c1 < 2048) {
                  target[strPosition++] = c1 >> 6 | 192;
                  target[strPosition++] = c1 & 63 | 128;
                } else if ((c1 & 64512) === 55296 && ((c2 = value.charCodeAt(i + 1)) & 64512) === 56320) {
                  c1 = 65536 + ((c1 & 1023) << 10) + (c2 & 1023);
                  i++;
                  target[strPosition++] = c1 >> 18 | 240;
                  target[strPosition++] = c1 >> 12 & 63 | 128;
                  target[strPosition++] = c1 >> 6 & 63 | 128;
                  target[strPosition++] = c1 & 63 | 128;
                } else {
                  target[strPosition++] = c1 >> 12 | 224;
                  target[strPosition++] = c1 >> 6 & 63 | 128;
                  target[strPosition++] = c1 & 63 | 128;
                }
              }
              length = strPosition - position2 - headerSize;
            } else {
              length = encodeUtf8(value, position2 + headerSize, maxBytes);
            }
            if (length < 24) {
              target[position2++] = 96 | length;
            } else if (length < 256) {
              if (headerSize < 2) {
                target.copyWithin(position2 + 2, position2 + 1, position2 + 1 + length);
              }
              target[position2++] = 120;
              target[position2++] = length;
            } else if (length < 65536) {
              if (headerSize < 3) {
                target.copyWithin(position2 + 3, position2 + 2, position2 + 2 + length);
              }
              target[position2++] = 121;
              target[position2++] = length >> 8;
              target[position2++] = length & 255;
            } else {
              if (headerSize < 5) {
                target.copyWithin(position2 + 5, position2 + 3, position2 + 3 + length);
              }
              target[position2++] = 122;
              targetView.setUint32(position2, length);
              position2 += 4;
            }
            position2 += length;
          } else if (type === "number") {
            if (!this.alwaysUseFloat && value >>> 0 === value) {
              if (value < 24) {
                target[position2++] = value;
              } else if (value < 256) {
                target[position2++] = 24;
                target[position2++] = value;
              } else if (value < 65536) {
                target[position2++] = 25;
                target[position2++] = value >> 8;
                target[position2++] = value & 255;
              } else {
                target[position2++] = 26;
                targetView.setUint32(position2, value);
                position2 += 4;
              }
            } else if (!this.alwaysUseFloat && value >> 0 === value) {
              if (value >= -24) {
                target[position2++] = 31 - value;
              } else if (value >= -256) {
                target[position2++] = 56;
                target[position2++] = ~value;
              } else if (value >= -65536) {
                target[position2++] = 57;
                targetView.setUint16(position2, ~value);
                position2 += 2;
              } else {
                target[position2++] = 58;
                targetView.setUint32(position2, ~value);
                position2 += 4;
              }
            } else if (!this.alwaysUseFloat && value < 0 && value >= -4294967296 && Math.floor(value) === value) {
              target[position2++] = 58;
              targetView.setUint32(position2, -1 - value);
              position2 += 4;
            } else {
              let useFloat32;
              if ((useFloat32 = this.useFloat32) > 0 && value < 4294967296 && value >= -2147483648) {
                target[position2++] = 250;
                targetView.setFloat32(position2, value);
                let xShifted;
                if (useFloat32 < 4 || // this checks for rounding of numbers that were encoded in 32-bit float to nearest significant decimal digit that could be preserved
                (xShifted = value * mult10[(target[position2] & 127) << 1 | target[position2 + 1] >> 7]) >> 0 === xShifted) {
                  position2 += 4;
                  return;
                } else
                  position2--;
              }
              target[position2++] = 251;
              targetView.setFloat64(position2, value);
              position2 += 8;
            }
          } else if (type === "object") {
            if (!value)
              target[position2++] = 246;
            else {
              if (referenceMap2) {
                let referee = referenceMap2.get(value);
                if (referee) {
                  target[position2++] = 216;
                  target[position2++] = 29;
                  target[position2++] = 25;
                  if (!referee.references) {
                    let idsToInsert = referenceMap2.idsToInsert || (referenceMap2.idsToInsert = []);
                    referee.references = [];
                    idsToInsert.push(referee);
                  }
                  referee.references.push(position2 - start);
                  position2 += 2;
                  return;
                } else
                  referenceMap2.set(value, { offset: position2 - start });
              }
              let constructor = value.constructor;
              if (constructor === Object) {
                if (this.skipFunction === true) {
                  value = Object.fromEntries([...Object.keys(value).filter((x) => typeof value[x] !== "function").map((x) => [x, value[x]])]);
                }
                writeObject(value);
              } else if (constructor === Array) {
                length = value.length;
                if (length < 24) {
                  target[position2++] = 128 | length;
                } else {
                  writeArrayHeader(length);
                }
                for (let i = 0; i < length; i++) {
                  encode2(value[i]);
                }
              } else if (constructor === Map) {
                if (this.mapsAsObjects ? this.useTag259ForMaps !== false : this.useTag259ForMaps) {
                  target[position2++] = 217;
                  target[position2++] = 1;
                  target[position2++] = 3;
                }
                length = value.size;
                if (length < 24) {
                  target[position2++] = 160 | length;
                } else if (length < 256) {
                  target[position2++] = 184;
                  target[position2++] = length;
                } else if (length < 65536) {
                  target[position2++] = 185;
                  target[position2++] = length >> 8;
                  target[position2++] = length & 255;
                } else {
                  target[position2++] = 186;
                  targetView.setUint32(position2, length);
                  position2 += 4;
                }
                if (encoder.keyMap) {
                  for (let [key, entryValue] of value) {
                    encode2(encoder.encodeKey(key));
                    encode2(entryValue);
                  }
                } else {
                  for (let [key, entryValue] of value) {
                    encode2(key);
                    encode2(entryValue);
                  }
                }
              } else {
                for (let i = 0, l = extensions.length; i < l; i++) {
                  let extensionClass = extensionClasses[i];
                  if (value instanceof extensionClass) {
                    let extension = extensions[i];
                    let tag = extension.tag;
                    if (tag == void 0)
                      tag = extension.getTag && extension.getTag.call(this, value);
                    if (tag < 24) {
                      target[position2++] = 192 | tag;
                    } else if (tag < 256) {
                      target[position2++] = 216;
                      target[position2++] = tag;
                    } else if (tag < 65536) {
                      target[position2++] = 217;
                      target[position2++] = tag >> 8;
                      target[position2++] = tag & 255;
                    } else if (tag > -1) {
                      target[position2++] = 218;
                      targetView.setUint32(position2, tag);
                      position2 += 4;
                    }
                    extension.encode.call(this, value, encode2, makeRoom);
                    return;
                  }
                }
                if (value[Symbol.iterator]) {
                  if (throwOnIterable) {
                    let error = new Error("Iterable should be serialized as iterator");
                    error.iteratorNotHandled = true;
                    throw error;
                  }
                  target[position2++] = 159;
                  for (let entry of value) {
                    encode2(entry);
                  }
                  target[position2++] = 255;
                  return;
                }
                if (value[Symbol.asyncIterator] || isBlob(value)) {
                  let error = new Error("Iterable/blob should be serialized as iterator");
                  error.iteratorNotHandled = true;
                  throw error;
                }
                if (this.useToJSON && value.toJSON) {
                  const json = value.toJSON();
                  if (json !== value)
                    return encode2(json);
                }
                if (constructor === DataView) {
                  writeBuffer(new Uint8Array(value.buffer, value.byteOffset, value.byteLength), makeRoom);
                  return;
                }
                writeObject(value);
              }
            }
          } else if (type === "boolean") {
            target[position2++] = value ? 245 : 244;
          } else if (type === "bigint") {
            if (value < BigInt(1) << BigInt(64) && value >= 0) {
              target[position2++] = 27;
              targetView.setBigUint64(position2, value);
            } else if (value > -(BigInt(1) << BigInt(64)) && value < 0) {
              target[position2++] = 59;
              targetView.setBigUint64(position2, -value - BigInt(1));
            } else {
              if (this.largeBigIntToFloat) {
                target[position2++] = 251;
                targetView.setFloat64(position2, Number(value));
              } else {
                if (value >= BigInt(0))
                  target[position2++] = 194;
                else {
                  target[position2++] = 195;
                  value = BigInt(-1) - value;
                }
                let bytes = [];
                while (value) {
                  bytes.push(Number(value & BigInt(255)));
                  value >>= BigInt(8);
                }
                writeBuffer(new Uint8Array(bytes.reverse()), makeRoom);
                return;
              }
            }
            position2 += 8;
          } else if (type === "undefined") {
            target[position2++] = 247;
          } else {
            throw new Error("Unknown type: " + type);
          }
        };
        const writeObject = this.useRecords === false ? this.variableMapSize ? (object) => {
          let keys = Object.keys(object);
          let vals = Object.values(object);
          let length = keys.length;
          if (length < 24) {
            target[position2++] = 160 | length;
          } else if (length < 256) {
            target[position2++] = 184;
            target[position2++] = length;
          } else if (length < 65536) {
            target[position2++] = 185;
            target[position2++] = length >> 8;
            target[position2++] = length & 255;
          } else {
            target[position2++] = 186;
            targetView.setUint32(position2, length);
            position2 += 4;
          }
          let key;
          if (encoder.keyMap) {
            for (let i = 0; i < length; i++) {
              encode2(encoder.encodeKey(keys[i]));
              encode2(vals[i]);
            }
          } else {
            for (let i = 0; i < length; i++) {
              encode2(keys[i]);
              encode2(vals[i]);
            }
          }
        } : (object) => {
          target[position2++] = 185;
          let objectOffset = position2 - start;
          position2 += 2;
          let size = 0;
          if (encoder.keyMap) {
            for (let key in object) if (typeof object.hasOwnProperty !== "function" || object.hasOwnProperty(key)) {
              encode2(encoder.encodeKey(key));
              encode2(object[key]);
              size++;
            }
          } else {
            for (let key in object) if (typeof object.hasOwnProperty !== "function" || object.hasOwnProperty(key)) {
              encode2(key);
              encode2(object[key]);
              size++;
            }
          }
          if (size < 65536) {
            target[objectOffset++ + start] = size >> 8;
            target[objectOffset + start] = size & 255;
          } else {
            if (position2 + 2 > safeEnd)
              makeRoom(position2 + 2);
            let headerPosition = objectOffset + start;
            target.copyWithin(headerPosition + 4, headerPosition + 2, position2);
            position2 += 2;
            target[headerPosition - 1] = 186;
            targetView.setUint32(headerPosition, size);
          }
        } : (object, skipValues) => {
          let nextTransition, transition = structures.transitions || (structures.transitions = /* @__PURE__ */ Object.create(null));
          let newTransitions = 0;
          let length = 0;
          let parentRecordId;
          let keys;
          if (this.keyMap) {
            keys = Object.keys(object).map((k) => this.encodeKey(k));
            length = keys.length;
            for (let i = 0; i < length; i++) {
              let key = keys[i];
              nextTransition = transition[key];
              if (!nextTransition) {
                nextTransition = transition[key] = /* @__PURE__ */ Object.create(null);
                newTransitions++;
              }
              transition = nextTransition;
            }
          } else {
            for (let key in object) if (typeof object.hasOwnProperty !== "function" || object.hasOwnProperty(key)) {
              nextTransition = transition[key];
              if (!nextTransition) {
                if (transition[RECORD_SYMBOL] & 1048576) {
                  parentRecordId = transition[RECORD_SYMBOL] & 65535;
                }
                nextTransition = transition[key] = /* @__PURE__ */ Object.create(null);
                newTransitions++;
              }
              transition = nextTransition;
              length++;
            }
          }
          let recordId = transition[RECORD_SYMBOL];
          if (recordId !== void 0) {
            recordId &= 65535;
            target[position2++] = 217;
            target[position2++] = recordId >> 8 | 224;
            target[position2++] = recordId & 255;
          } else {
            if (!keys)
              keys = transition.__keys__ || (transition.__keys__ = Object.keys(object));
            if (parentRecordId === void 0) {
              recordId = structures.nextId++;
              if (!recordId) {
                recordId = 0;
                structures.nextId = 1;
              }
              if (recordId >= MAX_STRUCTURES) {
                structures.nextId = (recordId = maxSharedStructures) + 1;
              }
            } else {
              recordId = parentRecordId;
            }
            structures[recordId] = keys;
            if (recordId < maxSharedStructures) {
              target[position2++] = 217;
              target[position2++] = recordId >> 8 | 224;
              target[position2++] = recordId & 255;
              transition = structures.transitions;
              for (let i = 0; i < length; i++) {
                if (transition[RECORD_SYMBOL] === void 0 || transition[RECORD_SYMBOL] & 1048576)
                  transition[RECORD_SYMBOL] = recordId;
                transition = transition[keys[i]];
              }
              transition[RECORD_SYMBOL] = recordId | 1048576;
              hasSharedUpdate = true;
            } else {
              transition[RECORD_SYMBOL] = recordId;
              targetView.setUint32(position2, 3655335680);
              position2 += 3;
              if (newTransitions)
                transitionsCount += serializationsSinceTransitionRebuild * newTransitions;
              if (recordIdsToRemove.length >= MAX_STRUCTURES - maxSharedStructures)
                recordIdsToRemove.shift()[RECORD_SYMBOL] = void 0;
              recordIdsToRemove.push(transition);
              writeArrayHeader(length + 2);
              encode2(57344 + recordId);
              encode2(keys);
              if (skipValues) return;
              for (let key in object)
                if (typeof object.hasOwnProperty !== "function" || object.hasOwnProperty(key))
                  encode2(object[key]);
              return;
            }
          }
          if (length < 24) {
            target[position2++] = 128 | length;
          } else {
            writeArrayHeader(length);
          }
          if (skipValues) return;
          for (let key in object)
            if (typeof object.hasOwnProperty !== "function" || object.hasOwnProperty(key))
              encode2(object[key]);
        };
        const makeRoom = (end) => {
          let newSize;
          if (end > 16777216) {
            if (end - start > MAX_BUFFER_SIZE)
              throw new Error("Encoded buffer would be larger than maximum buffer size");
            newSize = Math.min(
              MAX_BUFFER_SIZE,
              Math.round(Math.max((end - start) * (end > 67108864 ? 1.25 : 2), 4194304) / 4096) * 4096
            );
          } else
            newSize = (Math.max(end - start << 2, target.length - 1) >> 12) + 1 << 12;
          let newBuffer = new ByteArrayAllocate(newSize);
          targetView = new DataView(newBuffer.buffer, 0, newSize);
          if (target.copy)
            target.copy(newBuffer, 0, start, end);
          else
            newBuffer.set(target.slice(start, end));
          position2 -= start;
          start = 0;
          safeEnd = newBuffer.length - 10;
          return target = newBuffer;
        };
        let chunkThreshold = 100;
        let continuedChunkThreshold = 1e3;
        this.encodeAsIterable = function(value, options2) {
          return startEncoding(value, options2, encodeObjectAsIterable);
        };
        this.encodeAsAsyncIterable = function(value, options2) {
          return startEncoding(value, options2, encodeObjectAsAsyncIterable);
        };
        function* encodeObjectAsIterable(object, iterateProperties, finalIterable) {
          let constructor = object.constructor;
          if (constructor === Object) {
            let useRecords = encoder.useRecords !== false;
            if (useRecords)
              writeObject(object, true);
            else
              writeEntityLength(Object.keys(object).length, 160);
            for (let key in object) {
              let value = object[key];
              if (!useRecords) encode2(key);
              if (value && typeof value === "object") {
                if (iterateProperties[key])
                  yield* encodeObjectAsIterable(value, iterateProperties[key]);
                else
                  yield* tryEncode(value, iterateProperties, key);
              } else encode2(value);
            }
          } else if (constructor === Array) {
            let length = object.length;
            writeArrayHeader(length);
            for (let i = 0; i < length; i++) {
              let value = object[i];
              if (value && (typeof value === "object" || position2 - start > chunkThreshold)) {
                if (iterateProperties.element)
                  yield* encodeObjectAsIterable(value, iterateProperties.element);
                else
                  yield* tryEncode(value, iterateProperties, "element");
              } else encode2(value);
            }
          } else if (object[Symbol.iterator] && !object.buffer) {
            target[position2++] = 159;
            for (let value of object) {
              if (value && (typeof value === "object" || position2 - start > chunkThreshold)) {
                if (iterateProperties.element)
                  yield* encodeObjectAsIterable(value, iterateProperties.element);
                else
                  yield* tryEncode(value, iterateProperties, "element");
              } else encode2(value);
            }
            target[position2++] = 255;
          } else if (isBlob(object)) {
            writeEntityLength(object.size, 64);
            yield target.subarray(start, position2);
            yield object;
            restartEncoding();
          } else if (object[Symbol.asyncIterator]) {
            target[position2++] = 159;
            yield target.subarray(start, position2);
            yield object;
            restartEncoding();
            target[position2++] = 255;
          } else {
            encode2(object);
          }
          if (finalIterable && position2 > start) yield target.subarray(start, position2);
          else if (position2 - start > chunkThreshold) {
            yield target.subarray(start, position2);
            restartEncoding();
          }
        }
        function* tryEncode(value, iterateProperties, key) {
          let restart = position2 - start;
          try {
            encode2(value);
            if (position2 - start > chunkThreshold) {
              yield target.subarray(start, position2);
              restartEncoding();
            }
          } catch (error) {
            if (error.iteratorNotHandled) {
              iterateProperties[key] = {};
              position2 = start + restart;
              yield* encodeObjectAsIterable.call(this, value, iterateProperties[key]);
            } else throw error;
          }
        }
        function restartEncoding() {
          chunkThreshold = continuedChunkThreshold;
          encoder.encode(null, THROW_ON_ITERABLE);
        }
        function startEncoding(value, options2, encodeIterable) {
          if (options2 && options2.chunkThreshold)
            chunkThreshold = continuedChunkThreshold = options2.chunkThreshold;
          else
            chunkThreshold = 100;
          if (value && typeof value === "object") {
            encoder.encode(null, THROW_ON_ITERABLE);
            return encodeIterable(value, encoder.iterateProperties || (encoder.iterateProperties = {}), true);
          }
          return [encoder.encode(value)];
        }
        async function* encodeObjectAsAsyncIterable(value, iterateProperties) {
          for (let encodedValue of encodeObjectAsIterable(value, iterateProperties, true)) {
            let constructor = encodedValue.constructor;
            if (constructor === ByteArray || constructor === Uint8Array)
              yield encodedValue;
            else if (isBlob(encodedValue)) {
              let reader = encodedValue.stream().getReader();
              let next;
              while (!(next = await reader.read()).done) {
                yield next.value;
              }
            } else if (encodedValue[Symbol.asyncIterator]) {
              for await (let asyncValue of encodedValue) {
                restartEncoding();
                if (asyncValue)
                  yield* encodeObjectAsAsyncIterable(asyncValue, iterateProperties.async || (iterateProperties.async = {}));
                else yield encoder.encode(asyncValue);
              }
            } else {
              yield encodedValue;
            }
          }
        }
      }
      useBuffer(buffer) {
        target = buffer;
        targetView = new DataView(target.buffer, target.byteOffset, target.byteLength);
        position2 = 0;
      }
      clearSharedData() {
        if (this.structures)
          this.structures = [];
        if (this.sharedValues)
          this.sharedValues = void 0;
      }
      updateSharedData() {
        let lastVersion = this.sharedVersion || 0;
        this.sharedVersion = lastVersion + 1;
        let structuresCopy = this.structures.slice(0);
        let sharedData = new SharedData(structuresCopy, this.sharedValues, this.sharedVersion);
        let saveResults = this.saveShared(
          sharedData,
          (existingShared) => (existingShared && existingShared.version || 0) == lastVersion
        );
        if (saveResults === false) {
          sharedData = this.getShared() || {};
          this.structures = sharedData.structures || [];
          this.sharedValues = sharedData.packedValues;
          this.sharedVersion = sharedData.version;
          this.structures.nextId = this.structures.length;
        } else {
          structuresCopy.forEach((structure, i) => this.structures[i] = structure);
        }
        return saveResults;
      }
    };
    SharedData = class {
      constructor(structures, values, version) {
        this.structures = structures;
        this.packedValues = values;
        this.version = version;
      }
    };
    BlobConstructor = typeof Blob === "undefined" ? function() {
    } : Blob;
    isLittleEndianMachine2 = new Uint8Array(new Uint16Array([1]).buffer)[0] == 1;
    extensionClasses = [
      Date,
      Set,
      Error,
      RegExp,
      Tag,
      ArrayBuffer,
      Uint8Array,
      Uint8ClampedArray,
      Uint16Array,
      Uint32Array,
      typeof BigUint64Array == "undefined" ? function() {
      } : BigUint64Array,
      Int8Array,
      Int16Array,
      Int32Array,
      typeof BigInt64Array == "undefined" ? function() {
      } : BigInt64Array,
      Float32Array,
      Float64Array,
      SharedData
    ];
    extensions = [
      {
        // Date
        tag: 1,
        encode(date, encode2) {
          let seconds = date.getTime() / 1e3;
          if ((this.useTimestamp32 || date.getMilliseconds() === 0) && seconds >= 0 && seconds < 4294967296) {
            target[position2++] = 26;
            targetView.setUint32(position2, seconds);
            position2 += 4;
          } else {
            target[position2++] = 251;
            targetView.setFloat64(position2, seconds);
            position2 += 8;
          }
        }
      },
      {
        // Set
        tag: 258,
        // https://github.com/input-output-hk/cbor-sets-spec/blob/master/CBOR_SETS.md
        encode(set, encode2) {
          let array = Array.from(set);
          encode2(array);
        }
      },
      {
        // Error
        tag: 27,
        // http://cbor.schmorp.de/generic-object
        encode(error, encode2) {
          encode2([error.name, error.message]);
        }
      },
      {
        // RegExp
        tag: 27,
        // http://cbor.schmorp.de/generic-object
        encode(regex, encode2) {
          encode2(["RegExp", regex.source, regex.flags]);
        }
      },
      {
        // Tag
        getTag(tag) {
          return tag.tag;
        },
        encode(tag, encode2) {
          encode2(tag.value);
        }
      },
      {
        // ArrayBuffer
        encode(arrayBuffer, encode2, makeRoom) {
          writeBuffer(arrayBuffer, makeRoom);
        }
      },
      {
        // Uint8Array
        getTag(typedArray) {
          if (typedArray.constructor === Uint8Array) {
            if (this.tagUint8Array || hasNodeBuffer && this.tagUint8Array !== false)
              return 64;
          }
        },
        encode(typedArray, encode2, makeRoom) {
          writeBuffer(typedArray, makeRoom);
        }
      },
      typedArrayEncoder(68, 1),
      typedArrayEncoder(69, 2),
      typedArrayEncoder(70, 4),
      typedArrayEncoder(71, 8),
      typedArrayEncoder(72, 1),
      typedArrayEncoder(77, 2),
      typedArrayEncoder(78, 4),
      typedArrayEncoder(79, 8),
      typedArrayEncoder(85, 4),
      typedArrayEncoder(86, 8),
      {
        encode(sharedData, encode2) {
          let packedValues2 = sharedData.packedValues || [];
          let sharedStructures = sharedData.structures || [];
          if (packedValues2.values.length > 0) {
            target[position2++] = 216;
            target[position2++] = 51;
            writeArrayHeader(4);
            let valuesArray = packedValues2.values;
            encode2(valuesArray);
            writeArrayHeader(0);
            writeArrayHeader(0);
            packedObjectMap = Object.create(sharedPackedObjectMap || null);
            for (let i = 0, l = valuesArray.length; i < l; i++) {
              packedObjectMap[valuesArray[i]] = i;
            }
          }
          if (sharedStructures) {
            targetView.setUint32(position2, 3655335424);
            position2 += 3;
            let definitions = sharedStructures.slice(0);
            definitions.unshift(57344);
            definitions.push(new Tag(sharedData.version, 1399353956));
            encode2(definitions);
          } else
            encode2(new Tag(sharedData.version, 1399353956));
        }
      }
    ];
    defaultEncoder = new Encoder({ useRecords: false });
    encode = defaultEncoder.encode;
    encodeAsIterable = defaultEncoder.encodeAsIterable;
    encodeAsAsyncIterable = defaultEncoder.encodeAsAsyncIterable;
    ({ NEVER, ALWAYS, DECIMAL_ROUND, DECIMAL_FIT } = FLOAT32_OPTIONS);
    REUSE_BUFFER_MODE = 512;
    RESET_BUFFER_MODE = 1024;
    THROW_ON_ITERABLE = 2048;
  }
});

// node_modules/cbor-x/scan.js
var StructureScanner;
var init_scan = __esm({
  "node_modules/cbor-x/scan.js"() {
    init_decode();
    StructureScanner = class {
      constructor(decoder2) {
        this.decoder = decoder2;
        this.frames = [];
        this.records = /* @__PURE__ */ new Map();
        this.readers = /* @__PURE__ */ new Map();
        this.reset();
      }
      reset() {
        this.position = 0;
        this.depth = 0;
        this.neededLength = 0;
        this.postBundlePosition = 0;
        this.headers = 0;
        this.mapsAsObjects = !!this.decoder.mapsAsObjects;
        this.restoreMap = false;
        this.records.clear();
        this.readers.clear();
        this.push("items", 1);
      }
      push(kind, remaining) {
        if (this.depth === 16384) throw new RangeError("Maximum CBOR nesting depth exceeded");
        const frame = this.frames[this.depth] || (this.frames[this.depth] = {});
        frame.kind = kind;
        frame.remaining = remaining;
        frame.stage = 0;
        frame.id = void 0;
        frame.restoreMap = false;
        frame.legacy = false;
        frame.definition = void 0;
        frame.limitMajor = 0;
        frame.count = 0;
        this.depth++;
        return frame;
      }
      header(source, end, lengthOnly = false) {
        const start = this.position;
        if (start >= end) {
          this.neededLength = start + 1;
          return false;
        }
        const byte = source[start];
        const major = byte >> 5;
        const info = byte & 31;
        const width = info < 24 || lengthOnly && info > 26 ? 0 : info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
        if (!lengthOnly && info >= 28 && info <= 30) throw new Error("Unknown token " + info);
        if (start + 1 + width > end) {
          this.neededLength = start + 1 + width;
          return false;
        }
        let value = info;
        if (width) {
          value = 0;
          for (let i = start + 1; i <= start + width; i++) value = value * 256 + source[i];
          if (width === 8 && major > 1 && major !== 7 && value > 4294967295) {
            throw new Error("JavaScript does not support arrays, maps, or strings with length over 4294967295");
          }
        }
        this.major = major;
        this.info = info;
        this.argument = value;
        this.position = start + 1 + width;
        this.headers++;
        return true;
      }
      scan(source, end) {
        while (this.depth) {
          if (this.position > end) {
            this.neededLength = this.position;
            return false;
          }
          const frame = this.frames[this.depth - 1];
          if (frame.kind === "bundle") {
            if (frame.stage === 0) {
              if (!this.header(source, end, true)) return false;
              frame.remaining = Math.max(0, this.argument - 2);
              frame.stage = 1;
            }
            if (frame.stage === 1) {
              const offsetStart = this.position;
              if (!this.header(source, end)) return false;
              if (this.major > 1 || this.info === 31) throw new Error("Invalid bundled string offset");
              frame.target = offsetStart + (this.major === 1 ? -1 - this.argument : this.argument);
              if (!Number.isSafeInteger(frame.target) || frame.target < 0) throw new Error("Invalid bundled string offset");
              frame.stage = 2;
            }
            if (frame.stage === 2) {
              if (frame.remaining) {
                if (!this.header(source, end, true)) return false;
                this.position += this.argument;
                frame.remaining--;
                continue;
              }
              frame.resume = this.position;
              this.position = frame.target;
              frame.remaining = 2;
              frame.stage = 3;
              continue;
            }
            if (frame.stage === 3) {
              if (frame.remaining) {
                if (!this.header(source, end, true)) return false;
                this.position += this.argument;
                frame.remaining--;
                continue;
              }
              this.postBundlePosition = this.position;
              this.position = frame.resume;
              frame.kind = "items";
              frame.remaining = 1;
              continue;
            }
          }
          if (frame.kind === "record") {
            if (!this.header(source, end, true)) return false;
            if (this.info > 26) throw new Error("Expected array header, but got " + source[this.position - 1]);
            frame.kind = "items";
            frame.remaining = this.argument;
            const reader = frame.reader;
            if (reader.compiled.has(this.argument)) frame.remaining = Math.min(this.argument, reader.length);
            else if (reader.slowReads++ >= _stream.readThreshold) {
              reader.compiled.add(this.argument);
              frame.remaining = Math.min(this.argument, reader.length);
            }
            continue;
          }
          if (frame.kind === "definition" && frame.stage === 0) {
            const start = this.position;
            if (!this.header(source, end, !frame.legacy)) return false;
            if (frame.legacy && this.major !== 4) {
              this.position = start;
              this.headers--;
              frame.kind = "items";
              frame.remaining = 1;
              continue;
            }
            frame.remaining = frame.legacy ? this.info === 31 ? -1 : this.argument : Math.max(2, this.argument);
            if (frame.legacy) {
              if (frame.remaining >= 0) _stream.checkContainer(4, frame.remaining);
              else frame.limitMajor = 4;
              frame.index = 0;
            }
            frame.total = frame.remaining;
            frame.stage = 1;
            continue;
          }
          if (frame.remaining === 0) {
            if (frame.definition) this.records.set(frame.id - 57344, frame.definition);
            if (frame.restoreMap && this.restoreMap) {
              this.mapsAsObjects = true;
              this.restoreMap = false;
            }
            this.depth--;
            continue;
          }
          if (!this.header(source, end)) return false;
          let { major, argument, info } = this;
          if (frame.kind === "definition") {
            const index = frame.legacy ? frame.index++ : frame.total - frame.remaining;
            if (index === 0 && major === 0) frame.id = argument;
            if ((frame.multiple ? index >= 1 && index < frame.total - 1 : index === 1) && major === 4 && info !== 31 && frame.id !== void 0) {
              const definition = { length: argument, slowReads: 0, compiled: /* @__PURE__ */ new Set() };
              if (frame.legacy) frame.definition = definition;
              else this.records.set(frame.id - 57344 + (frame.multiple ? index - 1 : 0), definition);
            }
          }
          if (major === 7 && info === 31 && (frame.remaining === -1 || frame.remaining === -2)) {
            if (frame.definition) this.records.set(frame.id - 57344, frame.definition);
            this.depth--;
            continue;
          }
          if (frame.limitMajor && (frame.remaining === -1 || frame.remaining === -2)) {
            _stream.checkContainer(frame.limitMajor, ++frame.count, frame.mapsAsObjects);
          }
          if (frame.remaining > 0) frame.remaining--;
          else if (frame.remaining === -2) frame.remaining = -3;
          else if (frame.remaining === -3) frame.remaining = -2;
          if (info === 31) {
            if (major === 2 || major === 3) throw new Error("Indefinite length not supported for byte or text strings");
            if (major === 4 || major === 5) {
              const container = this.push("items", major === 4 ? -1 : -2);
              container.limitMajor = major;
              container.mapsAsObjects = this.mapsAsObjects;
              if (major === 5 && this.restoreMap) {
                this.mapsAsObjects = true;
                this.restoreMap = false;
              }
            } else if (major === 7) throw new Error("Unexpected break stop code outside of an indefinite-length item");
            else throw new Error("Invalid major type for indefinite length " + major);
            continue;
          }
          switch (major) {
            case 2:
            case 3:
              this.position += argument;
              break;
            case 4:
            case 5:
              _stream.checkContainer(major, argument, this.mapsAsObjects);
              if (major === 5 && this.restoreMap) {
                this.mapsAsObjects = true;
                this.restoreMap = false;
              }
              if (argument) this.push("items", major === 5 ? argument * 2 : argument);
              break;
            case 6: {
              const structure = _stream.getTag(argument, this.decoder);
              let reader = this.records.get(argument & 8191);
              if (argument >= 57337 && (structure || reader)) {
                if (!reader) {
                  reader = this.readers.get(structure);
                  if (!reader) {
                    reader = { length: structure.length, slowReads: structure.slowReads || 0, compiled: /* @__PURE__ */ new Set() };
                    for (let compiled = structure.compiledReader; compiled; compiled = compiled.next) reader.compiled.add(compiled.propertyCount);
                    this.readers.set(structure, reader);
                  }
                }
                this.push("record").reader = reader;
              } else if (argument === 57337) {
                this.push("bundle");
              } else if (argument === 57343 || argument === 57342) {
                this.push("definition").multiple = argument === 57342;
              } else if (argument === 259 && _stream.isBuiltinTag(argument) && this.mapsAsObjects) {
                this.push("items", 1).restoreMap = true;
                this.mapsAsObjects = false;
                this.restoreMap = true;
              } else if (argument === 105 && _stream.isBuiltinTag(argument)) {
                const definition = this.push("definition");
                definition.multiple = false;
                definition.legacy = true;
              } else {
                this.push("items", 1);
              }
              break;
            }
          }
        }
        if (this.postBundlePosition) {
          if (this.position >= this.postBundlePosition) throw new Error("Unexpected bundle position");
          this.position = this.postBundlePosition;
        }
        if (this.frames.length > 256) this.frames.length = 256;
        return true;
      }
    };
  }
});

// node_modules/cbor-x/iterators.js
function encodeIter(objectIterator, options = {}) {
  if (!objectIterator || typeof objectIterator !== "object") {
    throw new Error("first argument must be an Iterable, Async Iterable, or a Promise for an Async Iterable");
  } else if (typeof objectIterator[Symbol.iterator] === "function") {
    return encodeIterSync(objectIterator, options);
  } else if (typeof objectIterator.then === "function" || typeof objectIterator[Symbol.asyncIterator] === "function") {
    return encodeIterAsync(objectIterator, options);
  } else {
    throw new Error("first argument must be an Iterable, Async Iterable, Iterator, Async Iterator, or a Promise");
  }
}
function* encodeIterSync(objectIterator, options) {
  const encoder = new Encoder(options);
  for (const value of objectIterator) {
    yield encoder.encode(value);
  }
}
async function* encodeIterAsync(objectIterator, options) {
  const encoder = new Encoder(options);
  for await (const value of objectIterator) {
    yield encoder.encode(value);
  }
}
function decodeIter(bufferIterator, options = {}) {
  if (!bufferIterator || typeof bufferIterator !== "object") {
    throw new Error("first argument must be an Iterable, Async Iterable, Iterator, Async Iterator, or a promise");
  }
  const decoder2 = new Decoder(options);
  const chunkDecoder = new ChunkDecoder(decoder2, options.maxIncompleteBufferSize);
  let fatalError;
  const parser = (chunk) => {
    try {
      return chunkDecoder.buffer ? chunkDecoder.decodeAfterIncomplete(chunk) : decoder2.decodeMultiple(chunk);
    } catch (error) {
      fatalError = chunkDecoder.keepIncomplete(error, chunk);
      return error && error.values || [];
    }
  };
  if (typeof bufferIterator[Symbol.iterator] === "function") {
    return (function* iter() {
      for (const value of bufferIterator) {
        yield* parser(value);
        if (fatalError) throw fatalError;
      }
      const endError = chunkDecoder.end();
      if (endError) throw endError;
    })();
  } else if (typeof bufferIterator[Symbol.asyncIterator] === "function") {
    return (async function* iter() {
      for await (const value of bufferIterator) {
        yield* parser(value);
        if (fatalError) throw fatalError;
      }
      const endError = chunkDecoder.end();
      if (endError) throw endError;
    })();
  }
}
function maxIncompleteBufferSizeError() {
  return new Error("Maximum incomplete buffer size exceeded");
}
var ChunkDecoder;
var init_iterators = __esm({
  "node_modules/cbor-x/iterators.js"() {
    init_encode();
    init_decode();
    init_scan();
    ChunkDecoder = class {
      constructor(decoder2, maxIncompleteBufferSize) {
        this.decoder = decoder2;
        if (maxIncompleteBufferSize === void 0) maxIncompleteBufferSize = 67108864;
        if (typeof maxIncompleteBufferSize !== "number" || !(maxIncompleteBufferSize >= 0)) {
          throw new TypeError("maxIncompleteBufferSize must be a non-negative number");
        }
        this.maxIncompleteBufferSize = Math.floor(maxIncompleteBufferSize);
        this.buffer = null;
        this.bufferEnd = 0;
        this.appends = 0;
        this.scanner = null;
        this.scanned = false;
        this.resetScanner = false;
        this.neededLength = 0;
      }
      decodeAfterIncomplete(chunk) {
        if (!(ArrayBuffer.isView(chunk) && chunk.BYTES_PER_ELEMENT === 1)) {
          throw new TypeError("Source must be a Uint8Array or Buffer");
        }
        const length = this.bufferEnd + chunk.length;
        if (length < this.neededLength && length > this.maxIncompleteBufferSize) throw maxIncompleteBufferSizeError();
        if (length > this.buffer.length) {
          const size = this.appends < 2 ? length : Math.max(length, Math.min(length + this.bufferEnd, this.maxIncompleteBufferSize));
          const buffer = Buffer.allocUnsafe(size);
          if (size > length) buffer.fill(0, length);
          buffer.set(this.buffer.subarray(0, this.bufferEnd));
          this.buffer = buffer;
        }
        this.buffer.set(chunk, this.bufferEnd);
        this.bufferEnd = length;
        this.appends++;
        if (length < this.neededLength) return [];
        if (!this.scanner) this.scanner = new StructureScanner(this.decoder);
        if (this.resetScanner) {
          this.scanner.reset();
          this.resetScanner = false;
        }
        if (!this.scanner.scan(this.buffer, length)) {
          this.neededLength = this.scanner.neededLength;
          if (length > this.maxIncompleteBufferSize) throw maxIncompleteBufferSizeError();
          return [];
        }
        this.scanned = true;
        const values = _stream.decode(this.decoder, this.buffer.subarray(0, length), this.scanner.position);
        this.scanned = false;
        this.buffer = null;
        return values;
      }
      keepIncomplete(error, chunk) {
        if (!error) return this.fail(new Error("Decoding failed: " + error));
        if (!error.incomplete) return this.fail(error);
        if (this.scanned && error.lastPosition === 0) {
          error.incomplete = false;
          return this.fail(error);
        }
        const source = this.buffer ? this.buffer.subarray(0, this.bufferEnd) : chunk;
        const length = source.length - error.lastPosition;
        if (length > this.maxIncompleteBufferSize) return this.fail(maxIncompleteBufferSizeError());
        if (!this.buffer || error.lastPosition > 0) {
          if (length === 0) return;
          try {
            this.buffer = Buffer.from(source.subarray(error.lastPosition));
          } catch (copyError) {
            return this.fail(copyError);
          }
          this.bufferEnd = length;
          this.appends = 0;
        }
        this.scanned = false;
        this.resetScanner = true;
        this.neededLength = Math.max(length + 1, error.neededEnd ? error.neededEnd - error.lastPosition : 0);
      }
      end() {
        if (this.buffer) {
          const error = this.fail(new Error("Unexpected end of CBOR data"));
          error.incomplete = true;
          return error;
        }
      }
      fail(error) {
        this.buffer = null;
        this.scanner = null;
        this.scanned = false;
        this.resetScanner = false;
        return error;
      }
    };
  }
});

// node_modules/cbor-x/index.js
var cbor_x_exports = {};
__export(cbor_x_exports, {
  ALWAYS: () => ALWAYS,
  DECIMAL_FIT: () => DECIMAL_FIT,
  DECIMAL_ROUND: () => DECIMAL_ROUND,
  Decoder: () => Decoder,
  Encoder: () => Encoder,
  FLOAT32_OPTIONS: () => FLOAT32_OPTIONS,
  NEVER: () => NEVER,
  REUSE_BUFFER_MODE: () => REUSE_BUFFER_MODE,
  Tag: () => Tag,
  addExtension: () => addExtension2,
  clearSource: () => clearSource,
  decode: () => decode,
  decodeIter: () => decodeIter,
  decodeMultiple: () => decodeMultiple,
  encode: () => encode,
  encodeAsAsyncIterable: () => encodeAsAsyncIterable,
  encodeAsIterable: () => encodeAsIterable,
  encodeIter: () => encodeIter,
  isNativeAccelerationEnabled: () => isNativeAccelerationEnabled,
  roundFloat32: () => roundFloat32,
  setSizeLimits: () => setSizeLimits
});
var init_cbor_x = __esm({
  "node_modules/cbor-x/index.js"() {
    init_encode();
    init_decode();
    init_iterators();
  }
});

// no-ws:ws
var require_ws = __commonJS({
  "no-ws:ws"() {
    throw new TypeError("roost-client: this environment has no global WebSocket; pass connect(url, { WebSocket })");
  }
});

// src/errors.js
var CLIENT_CODES = Object.freeze({
  UNAVAILABLE: "unavailable",
  // the connection was lost or is down (retryable)
  TIMEOUT: "timeout",
  // no reply within callTimeout (retryable, as in the Python client)
  CLOSED: "closed"
  // the client was closed, or the server said not to reconnect
});
var RoostError = class extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {{retryable?: boolean, closeCode?: number}} [extra]
   */
  constructor(code, message, { retryable = false, closeCode } = {}) {
    super(message);
    this.name = "RoostError";
    this.code = code;
    this.retryable = retryable;
    if (closeCode !== void 0) this.closeCode = closeCode;
  }
};
var RpcError = class extends RoostError {
  /**
   * Retryable are `unavailable` (as protocol.md says, such a call may or may not have taken
   * effect, and retrying it may succeed) and the client's `timeout` (the same holds).
   *
   * @param {string} code
   * @param {string} message
   * @param {{closeCode?: number}} [extra]
   */
  constructor(code, message, { closeCode } = {}) {
    super(code, message, { retryable: code === CLIENT_CODES.UNAVAILABLE || code === CLIENT_CODES.TIMEOUT, closeCode });
    this.name = "RpcError";
  }
};
var ProtocolError = class extends RoostError {
  /**
   * @param {number} closeCode 1003, 1007 or 1009, as in protocol.md's table of refusals
   * @param {string} message
   */
  constructor(closeCode, message) {
    super("protocol", message, { closeCode });
    this.name = "ProtocolError";
  }
};

// src/codec.js
var DEFAULT_LIMITS = Object.freeze({
  maxSize: 1 << 20,
  // bytes in one envelope
  maxDepth: 32,
  // nesting of arrays and maps; the envelope map is level 1
  maxItems: 1e4,
  // elements of one array, or entries of one map
  maxTotalItems: 1e5
  // elements and entries of one whole envelope
});
var INT64_MIN = -(2n ** 63n);
var INT64_MAX = 2n ** 63n - 1n;
var SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);
var TWO_32 = 2 ** 32;
function resolveLimits(limits = {}) {
  const merged = { ...DEFAULT_LIMITS, ...limits };
  for (const [name, value] of Object.entries(merged)) {
    if (!(name in DEFAULT_LIMITS)) throw new TypeError(`unknown limit ${name}`);
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`limit ${name} must be a positive integer, not ${value}`);
    }
  }
  return Object.freeze(merged);
}
function isWellFormed(text) {
  if (typeof text.isWellFormed === "function") return text.isWellFormed();
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text);
}
function isPlainObject(value) {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
function prepare(value, { cbor, limits }) {
  let total = 0;
  const count = (n) => {
    if (n > limits.maxItems) throw new RangeError(`${n} items in one container, over ${limits.maxItems}`);
    total += n;
    if (total > limits.maxTotalItems) {
      throw new RangeError(`over ${limits.maxTotalItems} items in one envelope`);
    }
  };
  const walk = (v, depth) => {
    switch (typeof v) {
      case "string":
        if (!isWellFormed(v)) throw new TypeError("text with a lone surrogate is not valid UTF-8");
        return v;
      case "boolean":
        return v;
      case "number":
        if (!Number.isFinite(v)) throw new TypeError(`${v} is not a finite number`);
        if (cbor && Number.isInteger(v) && (v >= TWO_32 || v < -TWO_32)) {
          const big = BigInt(v);
          if (big >= INT64_MIN && big <= INT64_MAX) return big;
        }
        return v;
      case "bigint":
        if (v < INT64_MIN || v > INT64_MAX) throw new TypeError(`${v} is outside 64-bit integers`);
        if (cbor) return v;
        if (v < -SAFE_MAX || v > SAFE_MAX) {
          throw new TypeError(`${v} is beyond 2**53: use the CBOR encoding for such integers`);
        }
        return Number(v);
      case "undefined":
        return null;
      case "object":
        break;
      default:
        throw new TypeError(`a ${typeof v} is not a roost value`);
    }
    if (v === null) return null;
    if (v instanceof Uint8Array || v instanceof ArrayBuffer) {
      if (!cbor) throw new TypeError("bytes can only be sent with the CBOR encoding");
      return v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    }
    if (depth >= limits.maxDepth) throw new RangeError(`nesting deeper than ${limits.maxDepth}`);
    if (Array.isArray(v)) {
      count(v.length);
      return v.map((item) => walk(item, depth + 1));
    }
    if (!isPlainObject(v)) {
      const kind = v.constructor?.name ?? "object";
      throw new TypeError(`a ${kind} is not a roost value (only plain objects, arrays, bytes)`);
    }
    const out = {};
    let entries = 0;
    for (const key of Object.keys(v)) {
      if (v[key] === void 0) continue;
      if (!isWellFormed(key)) throw new TypeError("a key with a lone surrogate is not valid UTF-8");
      entries += 1;
      out[key] = walk(v[key], depth + 1);
    }
    count(entries);
    return out;
  };
  return walk(value, 0);
}
function checkParsed(value, limits) {
  let total = 0;
  const walk = (v, depth) => {
    if (typeof v === "number") {
      if (!Number.isFinite(v)) throw new ProtocolError(1007, "a number out of range");
      return;
    }
    if (typeof v === "string") {
      if (!isWellFormed(v)) throw new ProtocolError(1007, "text with a lone surrogate");
      return;
    }
    if (v === null || typeof v !== "object") return;
    if (depth >= limits.maxDepth) throw new ProtocolError(1009, "nesting too deep");
    const items = Array.isArray(v) ? v : Object.values(v);
    if (!Array.isArray(v)) {
      for (const key of Object.keys(v)) walk(key, depth);
    }
    if (items.length > limits.maxItems) throw new ProtocolError(1009, "a container too long");
    total += items.length;
    if (total > limits.maxTotalItems) throw new ProtocolError(1009, "too many items");
    for (const item of items) walk(item, depth + 1);
  };
  walk(value, 0);
}
function utf8Length(text) {
  return new TextEncoder().encode(text).length;
}
function jsonCodec(limits) {
  return {
    subprotocol: "roost.v1.json",
    encode(envelope) {
      const text = JSON.stringify(prepare(envelope, { cbor: false, limits }));
      if (text.length * 3 > limits.maxSize && utf8Length(text) > limits.maxSize) {
        throw new RangeError(`an envelope of over ${limits.maxSize} bytes`);
      }
      return text;
    },
    decode(data) {
      if (typeof data !== "string") throw new ProtocolError(1003, "a binary frame in roost.v1.json");
      if (data.length > limits.maxSize || data.length * 3 > limits.maxSize && utf8Length(data) > limits.maxSize) {
        throw new ProtocolError(1009, "an envelope over maxSize");
      }
      let value;
      try {
        value = JSON.parse(data);
      } catch {
        throw new ProtocolError(1007, "not valid JSON");
      }
      checkParsed(value, limits);
      return value;
    }
  };
}
var ENCODER_OPTIONS = Object.freeze({
  useRecords: false,
  // no record extension (tag 105)
  mapsAsObjects: true,
  variableMapSize: true,
  // shortest map headers
  bundleStrings: false,
  // no string bundles (tags)
  tagUint8Array: false,
  // bytes as major type 2, never tag 64
  useTag259ForMaps: false,
  structuredClone: false,
  // no shared references (tag 28/29)
  pack: false,
  useFloat32: 0,
  // floats as float64, as roost writes them
  largeBigIntToFloat: false
});
var DECODER_OPTIONS = Object.freeze({
  useRecords: false,
  mapsAsObjects: true,
  copyBuffers: true
  // bytes do not pin the whole frame
});
function scanCbor(bytes, limits) {
  if (bytes.length > limits.maxSize) throw new ProtocolError(1009, "an envelope over maxSize");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const bad = (why) => new ProtocolError(1007, why);
  let pos = 0;
  let total = 0;
  let wide = false;
  const need = (n) => {
    if (bytes.length - pos < n) throw bad("truncated CBOR");
  };
  const argument = (info) => {
    if (info < 24) return info;
    let arg;
    if (info === 24) need(1), arg = bytes[pos], pos += 1;
    else if (info === 25) need(2), arg = view.getUint16(pos), pos += 2;
    else if (info === 26) need(4), arg = view.getUint32(pos), pos += 4;
    else if (info === 27) {
      need(8);
      const big = view.getBigUint64(pos);
      pos += 8;
      wide = true;
      arg = big <= SAFE_MAX ? Number(big) : big;
    } else throw bad(info === 31 ? "an indefinite length" : "a reserved additional information");
    return arg;
  };
  const container = (length, depth) => {
    if (depth > limits.maxDepth) throw new ProtocolError(1009, "nesting too deep");
    if (length > limits.maxItems) throw new ProtocolError(1009, "a container too long");
    total += Number(length);
    if (total > limits.maxTotalItems) throw new ProtocolError(1009, "too many items");
  };
  const text = (length) => {
    if (length > bytes.length - pos) throw bad("truncated CBOR");
    let value;
    try {
      value = utf8.decode(bytes.subarray(pos, pos + length));
    } catch {
      throw bad("invalid UTF-8");
    }
    pos += length;
    return value;
  };
  const item = (depth) => {
    need(1);
    const initial = bytes[pos++];
    const major = initial >> 5;
    const info = initial & 31;
    if (major === 6) throw bad("a CBOR tag");
    if (major === 7) {
      if (info >= 20 && info <= 22) return;
      if (info === 25) {
        need(2);
        const half = view.getUint16(pos);
        pos += 2;
        if ((half & 31744) === 31744) throw bad("a non-finite float");
        return;
      }
      if (info === 26 || info === 27) {
        const size = info === 26 ? 4 : 8;
        need(size);
        const float = size === 4 ? view.getFloat32(pos) : view.getFloat64(pos);
        pos += size;
        if (!Number.isFinite(float)) throw bad("a non-finite float");
        return;
      }
      throw bad(info === 31 ? "an indefinite length" : "a simple value outside the model");
    }
    const arg = argument(info);
    switch (major) {
      case 0:
      case 1:
        if (typeof arg === "bigint" && arg > INT64_MAX) throw bad("an integer outside 64 bits");
        return;
      case 2:
        if (arg > bytes.length - pos) throw bad("truncated CBOR");
        pos += Number(arg);
        return;
      case 3:
        text(Number(arg));
        return;
      case 4:
        container(arg, depth + 1);
        for (let i = 0; i < arg; i++) item(depth + 1);
        return;
      case 5: {
        container(arg, depth + 1);
        const keys = /* @__PURE__ */ new Set();
        for (let i = 0; i < arg; i++) {
          need(1);
          const keyInitial = bytes[pos++];
          if (keyInitial >> 5 !== 3) throw bad("a map key that is not text");
          const key = text(Number(argument(keyInitial & 31)));
          if (keys.has(key)) throw bad("a duplicate map key");
          keys.add(key);
          item(depth + 1);
        }
        return;
      }
    }
  };
  item(0);
  if (pos !== bytes.length) throw bad("trailing bytes after the CBOR item");
  return wide;
}
function narrowIntegers(value) {
  if (typeof value === "bigint") {
    return value >= -SAFE_MAX && value <= SAFE_MAX ? Number(value) : value;
  }
  if (value === null || typeof value !== "object" || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = narrowIntegers(value[i]);
  } else {
    for (const key of Object.keys(value)) value[key] = narrowIntegers(value[key]);
  }
  return value;
}
var cborModule;
function loadCbor() {
  cborModule ?? (cborModule = Promise.resolve().then(() => (init_cbor_x(), cbor_x_exports)));
  return cborModule;
}
async function cborCodec(limits) {
  const { Encoder: Encoder2, Decoder: Decoder2 } = await loadCbor();
  const encoder = new Encoder2(ENCODER_OPTIONS);
  const decoder2 = new Decoder2(DECODER_OPTIONS);
  return {
    subprotocol: "roost.v1.cbor",
    encode(envelope) {
      const bytes = new Uint8Array(encoder.encode(prepare(envelope, { cbor: true, limits })));
      if (bytes.length > limits.maxSize) throw new RangeError(`an envelope of over ${limits.maxSize} bytes`);
      return bytes;
    },
    decode(data) {
      if (typeof data === "string") throw new ProtocolError(1003, "a text frame in roost.v1.cbor");
      const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
      const wide = scanCbor(bytes, limits);
      const value = decoder2.decode(bytes);
      return wide ? narrowIntegers(value) : value;
    }
  };
}
async function codecFor(encoding, limits) {
  if (encoding === "json") return jsonCodec(limits);
  if (encoding === "cbor") return cborCodec(limits);
  if (encoding === "raw") return null;
  throw new TypeError(`encoding must be "json", "cbor" or "raw", not ${JSON.stringify(encoding)}`);
}

// src/events.js
function eventIterator(client, name, maxQueued) {
  const queue = [];
  let waiter = null;
  let failure = null;
  let done = false;
  const finish = () => {
    done = true;
    unsubscribe();
    unsubscribeClose();
    if (waiter) waiter.resolve({ value: void 0, done: true });
    waiter = null;
  };
  const unsubscribe = client.on("event", (eventName, data) => {
    if (done || name !== null && eventName !== name) return;
    if (waiter) {
      waiter.resolve({ value: { name: eventName, data }, done: false });
      waiter = null;
    } else if (queue.length >= maxQueued) {
      failure = new RoostError("overflow", `over ${maxQueued} events not read from the iterator`);
      finish();
    } else {
      queue.push({ name: eventName, data });
    }
  });
  const unsubscribeClose = client.on("close", ({ willReconnect }) => willReconnect || finish());
  if (client.state === "closed") finish();
  return {
    next: () => {
      if (queue.length) return Promise.resolve({ value: queue.shift(), done: false });
      if (failure) {
        const error = failure;
        failure = null;
        return Promise.reject(error);
      }
      if (done) return Promise.resolve({ value: void 0, done: true });
      if (waiter) return Promise.reject(new TypeError("next() called again before the last one settled"));
      return new Promise((resolve, reject) => {
        waiter = { resolve, reject };
      });
    },
    return: () => {
      queue.length = 0;
      finish();
      return Promise.resolve({ value: void 0, done: true });
    },
    [Symbol.asyncIterator]() {
      return this;
    }
  };
}

// src/urls.js
var CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
var TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
var RESERVED_HEADERS = /* @__PURE__ */ new Set([
  "host",
  "upgrade",
  "connection",
  "content-length",
  "transfer-encoding",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-protocol",
  "sec-websocket-extensions"
]);
function pairs(what, items) {
  if (items === void 0 || items === null) return [];
  const list = typeof items[Symbol.iterator] === "function" ? [...items] : Object.entries(items);
  for (const pair of list) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string" || typeof pair[1] !== "string") {
      throw new TypeError(`${what} must be string names and string values`);
    }
  }
  return list;
}
function segment(what, text) {
  if (typeof text !== "string") throw new TypeError(`${what} must be a string, not ${typeof text}`);
  if (text === "") throw new RangeError(`${what} must not be empty`);
  if (CONTROL.test(text)) throw new RangeError(`${what} holds a control character, which the server refuses`);
  if (text === "." || text === "..") throw new RangeError(`${what} cannot be "${text}": URL parsers remove that path segment`);
  try {
    return encodeURIComponent(text);
  } catch {
    throw new RangeError(`${what} is not valid Unicode (a lone surrogate)`);
  }
}
function actorUrl(baseUrl, actorType, key, { params } = {}) {
  if (typeof baseUrl !== "string") throw new TypeError("baseUrl must be a string");
  let url;
  try {
    url = new URL(baseUrl, globalThis.location?.href);
  } catch {
    throw new TypeError(`baseUrl is not a URL: ${redactUrl(baseUrl)}`);
  }
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  if (url.protocol !== "ws:" && url.protocol !== "wss:" || !url.host) {
    throw new TypeError(`baseUrl must be a ws:, wss:, http: or https: URL, not ${redactUrl(baseUrl)}`);
  }
  if (url.search || url.hash || /[?#]$/.test(baseUrl)) throw new TypeError("baseUrl takes no query or fragment: pass params");
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/${segment("actorType", actorType)}/${segment("key", key)}`;
  const query = pairs("params", params).map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`);
  return `${url.href}${query.length ? `?${query.join("&")}` : ""}`;
}
function checkHeaders(headers) {
  const list = pairs("headers", headers);
  if (list.length === 0) return null;
  const checked = {};
  for (const [name, value] of list) {
    if (!TOKEN.test(name)) throw new TypeError(`header name ${JSON.stringify(name)} is not an HTTP token`);
    if (RESERVED_HEADERS.has(name.toLowerCase())) throw new TypeError(`the ${name} header belongs to the WebSocket handshake`);
    if (/[\r\n\0]/.test(value)) throw new TypeError(`the value of header ${name} holds CR, LF or NUL`);
    checked[name] = value;
  }
  return checked;
}
function redactUrl(url) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return "<an invalid URL>";
  }
  parsed.username = "";
  parsed.password = "";
  parsed.hash = "";
  const query = parsed.search ? "?<redacted>" : "";
  parsed.search = "";
  return parsed.href + query;
}

// src/roost.js
var FATAL_CLOSE_CODES = Object.freeze([1003, 1007, 1008, 1009]);
var IMMEDIATE_CLOSE_CODES = Object.freeze([1001, 1012]);
var TRANSITIONS = Object.freeze({
  connecting: ["open", "closed"],
  // the first connection, retried until it opens
  open: ["reconnecting", "closed"],
  reconnecting: ["open", "closed"],
  // waiting out the backoff, or opening a new connection
  closed: []
});
var DEFAULTS = Object.freeze({
  encoding: "json",
  reconnect: true,
  backoff: Object.freeze({ initial: 250, max: 1e4 }),
  callTimeout: 3e4,
  maxBuffered: 100,
  maxQueuedEvents: 1e3
});
var IS_NODE = typeof process !== "undefined" && Boolean(process.versions?.node);
async function nodeWebSocket() {
  const module = await Promise.resolve().then(() => __toESM(require_ws(), 1));
  return module.WebSocket ?? module.default;
}
function report(error) {
  queueMicrotask(() => {
    throw error;
  });
}
function toWebSocketUrl(url) {
  const parsed = new URL(url, globalThis.location?.href);
  if (parsed.protocol === "http:") parsed.protocol = "ws:";
  else if (parsed.protocol === "https:") parsed.protocol = "wss:";
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    throw new TypeError(`a roost URL is ws:, wss:, http: or https:, not ${parsed.protocol}`);
  }
  return parsed.href;
}
function toWebSocketUrls(url) {
  const urls = Array.isArray(url) ? url : [url];
  if (urls.length === 0) throw new TypeError("connect() needs at least one URL");
  for (const each of urls) {
    if (typeof each !== "string" && !(each instanceof URL)) throw new TypeError("a roost URL is a string or a URL");
  }
  return Object.freeze(urls.map((each) => toWebSocketUrl(String(each))));
}
var now = () => globalThis.performance?.now() ?? Date.now();
function positive(name, value) {
  if (typeof value !== "number" || !(value > 0)) {
    throw new RangeError(`${name} must be a positive number, not ${value}`);
  }
  return value;
}
var RoostClient = class {
  /**
   * @param {string | string[]} url `ws://host:port/<type>/<key>?query` (http: and https: are
   *   accepted too), or several: the actor's URL on each node of a cluster, tried in turn;
   *   build them with actorUrl(), which percent-encodes the key
   * @param {import("../index.d.ts").ConnectOptions} [options]
   */
  constructor(url, options = {}) {
    const o = { ...DEFAULTS, ...options, backoff: { ...DEFAULTS.backoff, ...options.backoff } };
    this.urls = toWebSocketUrls(url);
    this._index = 0;
    this._roundLeft = this.urls.length - 1;
    this._lastImmediate = null;
    this.encoding = o.encoding;
    if (!["json", "cbor", "raw"].includes(o.encoding)) {
      throw new TypeError(`encoding must be "json", "cbor" or "raw", not ${JSON.stringify(o.encoding)}`);
    }
    this._headers = checkHeaders(o.headers);
    this._WebSocket = o.WebSocket ?? (this._headers === null ? globalThis.WebSocket : void 0);
    if (typeof this._WebSocket !== "function") {
      if (!IS_NODE) {
        throw new TypeError(
          this._headers === null ? "no global WebSocket: pass one, e.g. connect(url, { WebSocket })" : "browsers cannot set WebSocket headers: send a token in the query (actorUrl's params) or use a cookie"
        );
      }
      this._WebSocket = null;
    }
    this._reconnect = Boolean(o.reconnect);
    this._backoff = { initial: positive("backoff.initial", o.backoff.initial), max: positive("backoff.max", o.backoff.max) };
    this._callTimeout = o.callTimeout === null || o.callTimeout === Infinity ? null : positive("callTimeout", o.callTimeout);
    if (!Number.isInteger(o.maxBuffered) || o.maxBuffered < 0) throw new RangeError("maxBuffered must be an integer >= 0");
    this._maxBuffered = o.maxBuffered;
    this._maxQueuedEvents = o.maxQueuedEvents;
    this._limits = resolveLimits(o.limits);
    this._state = "connecting";
    this._ws = null;
    this._codec = null;
    this._attempt = 0;
    this._timer = null;
    this._nextId = 1;
    this._inFlight = /* @__PURE__ */ new Map();
    this._offline = [];
    this._listeners = /* @__PURE__ */ new Map();
    this._closing = null;
    this._resolveClosing = null;
    this._lastSocket = null;
    this._lastSeq = null;
    this.ready = new Promise((resolve, reject) => {
      this._ready = { resolve, reject };
    });
    this.ready.catch(() => {
    });
    const loading = [codecFor(this.encoding, this._limits), this._WebSocket ?? nodeWebSocket()];
    this._codecReady = Promise.all(loading).then(([codec, WebSocket]) => {
      this._codec = codec;
      this._WebSocket = WebSocket;
    });
    this._codecReady.then(
      () => this._state !== "closed" && this._open(),
      (error) => this._shutdown(new RpcError(CLIENT_CODES.CLOSED, `cannot load the codec or ws: ${error.message}`))
    );
  }
  /** Shown by console.log and util.inspect: the URL without its query (it may hold a token). */
  [/* @__PURE__ */ Symbol.for("nodejs.util.inspect.custom")]() {
    return `RoostClient <${redactUrl(this.url)}> ${this._state}`;
  }
  toString() {
    return `RoostClient <${redactUrl(this.url)}> ${this._state}`;
  }
  /** The URL connected to, or being tried. */
  get url() {
    return this.urls[this._index];
  }
  /** "connecting" (the first time), "open", "reconnecting" or "closed". */
  get state() {
    return this._state;
  }
  /** The seq of the last event received (null: none yet); a reconnection resumes after it. */
  get lastSeq() {
    return this._lastSeq;
  }
  /** Calls and sends queued while offline. */
  get buffered() {
    return this._offline.length;
  }
  /**
   * Calls an rpc method of the actor.
   *
   * @param {string} method
   * @param {Record<string, unknown>} [args]
   * @param {{timeout?: number | null}} [options] overrides callTimeout (null: none)
   * @returns {Promise<unknown>} the method's return value
   */
  call(method, args = {}, { timeout = this._callTimeout } = {}) {
    if (this.encoding === "raw") return Promise.reject(new TypeError("call() needs encoding json or cbor"));
    if (typeof method !== "string") return Promise.reject(new TypeError("method must be a string"));
    if (args === null || typeof args !== "object" || Array.isArray(args)) {
      return Promise.reject(new TypeError("args must be an object of keyword arguments"));
    }
    if (timeout === Infinity) timeout = null;
    if (timeout !== null && !(typeof timeout === "number" && timeout > 0)) {
      return Promise.reject(new RangeError(`timeout must be a positive number or null, not ${timeout}`));
    }
    if (this._state === "closed") return Promise.reject(this._closedError());
    const id = this._nextId++;
    const call = { id, resolve: null, reject: null, timer: null, entry: null };
    const promise = new Promise((resolve, reject) => {
      call.resolve = resolve;
      call.reject = reject;
    });
    if (this._codec === null) {
      this._codecReady.then(() => this._dispatch(call, method, args, timeout)).catch(call.reject);
    } else {
      this._dispatch(call, method, args, timeout);
    }
    return promise;
  }
  _dispatch(call, method, args, timeout) {
    if (this._state === "closed") return call.reject(this._closedError());
    let frame;
    try {
      frame = this._codec.encode({ type: "call", id: call.id, method, args });
    } catch (error) {
      return call.reject(error);
    }
    if (this._sendable()) {
      this._inFlight.set(call.id, call);
      this._ws.send(frame);
    } else {
      if (this._offline.length >= this._maxBuffered) {
        return call.reject(new RpcError(CLIENT_CODES.UNAVAILABLE, `offline, and ${this._maxBuffered} calls and sends are already buffered`));
      }
      call.entry = { frame, call };
      this._offline.push(call.entry);
    }
    if (timeout !== null) call.timer = setTimeout(() => this._timeOut(call), timeout);
  }
  _timeOut(call) {
    call.timer = null;
    this._inFlight.delete(call.id);
    const index = call.entry ? this._offline.indexOf(call.entry) : -1;
    if (index >= 0) this._offline.splice(index, 1);
    call.reject(new RpcError(CLIENT_CODES.TIMEOUT, `no reply to call ${call.id} within the timeout`));
  }
  /**
   * Whether a frame can go out now. A socket that is closing (the server's close frame came,
   * its close event has not yet) would drop it: it is buffered for the next connection
   * instead, as while offline.
   */
  _sendable() {
    return this._state === "open" && this._ws.readyState === 1;
  }
  _settle(call) {
    if (call.timer !== null) clearTimeout(call.timer);
    call.timer = null;
  }
  /**
   * Raw mode: sends a text (string) or binary (ArrayBuffer, Uint8Array) frame, or queues it
   * while offline.
   *
   * @throws {RoostError} closed, or offline with maxBuffered frames already queued (unavailable)
   */
  send(data) {
    if (this.encoding !== "raw") throw new TypeError("send() is for raw mode; use call()");
    if (typeof data !== "string" && !(data instanceof ArrayBuffer) && !ArrayBuffer.isView(data)) {
      throw new TypeError("send() takes a string, an ArrayBuffer or a Uint8Array");
    }
    if (this._state === "closed") throw this._closedError();
    if (this._sendable()) return this._ws.send(data);
    if (this._offline.length >= this._maxBuffered) {
      throw new RoostError(CLIENT_CODES.UNAVAILABLE, `offline, and ${this._maxBuffered} frames are already buffered`, { retryable: true });
    }
    let frame = data;
    if (data instanceof ArrayBuffer) frame = data.slice(0);
    else if (ArrayBuffer.isView(data)) frame = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    this._offline.push({ frame, call: null });
  }
  /**
   * Adds a handler; returns a function that removes it. Types: "event" (name, data, seq),
   * "message" (data: string | Uint8Array, raw mode), "open" (), "close" ({code, reason,
   * willReconnect}), "error" (error: connection failures and protocol errors), "resync"
   * ({seq}: the events missed while reconnecting are gone; fetch the state again).
   */
  on(type, handler) {
    if (typeof handler !== "function") throw new TypeError("handler must be a function");
    if (!this._listeners.has(type)) this._listeners.set(type, /* @__PURE__ */ new Set());
    this._listeners.get(type).add(handler);
    return () => this.off(type, handler);
  }
  off(type, handler) {
    this._listeners.get(type)?.delete(handler);
  }
  _emit(type, ...args) {
    for (const handler of [...this._listeners.get(type) ?? []]) {
      try {
        handler(...args);
      } catch (error) {
        report(error);
      }
    }
  }
  /**
   * Events of the actor. With a handler: calls `handler(data, name)` for each event named
   * `name` (any name if null) and returns an unsubscribe function. Without: an async iterator
   * of `{name, data}` that holds at most `maxQueued` unread events (more is an error, not a
   * silent drop) and ends when the client closes.
   */
  events(name = null, handlerOrOptions = {}) {
    if (typeof handlerOrOptions === "function") {
      const handler = handlerOrOptions;
      return this.on("event", (eventName, data, seq) => {
        if (name === null || eventName === name) handler(data, eventName, seq);
      });
    }
    return eventIterator(this, name, handlerOrOptions.maxQueued ?? this._maxQueuedEvents);
  }
  /**
   * Closes the client for good: no more reconnecting; calls in flight and everything buffered
   * fail with code "closed". Resolves once the socket has closed.
   */
  close(code = 1e3, reason = "") {
    if (this._state !== "closed") {
      this._shutdown(new RpcError(CLIENT_CODES.CLOSED, "the client was closed"), code, reason);
    }
    return this._closing ?? Promise.resolve();
  }
  // -- the connection ------------------------------------------------------------------------
  _transition(to) {
    if (!TRANSITIONS[this._state].includes(to)) {
      throw new Error(`roost client bug: illegal transition ${this._state} -> ${to}`);
    }
    this._state = to;
  }
  _closedError(closeCode) {
    return new RpcError(CLIENT_CODES.CLOSED, "the client is closed", { closeCode });
  }
  _open() {
    let ws;
    try {
      const protocols = this._codec ? [this._codec.subprotocol] : [];
      let url = this.url;
      if (this._codec && this._state === "reconnecting") {
        url += `${url.includes("?") ? "&" : "?"}resume=${this._lastSeq ?? 0}`;
      }
      ws = this._headers === null ? new this._WebSocket(url, protocols) : new this._WebSocket(url, protocols, { headers: this._headers });
    } catch (error) {
      this._emit("error", error);
      this._lost(1006, String(error?.message ?? error));
      return;
    }
    this._ws = ws;
    ws.binaryType = "arraybuffer";
    ws.onopen = () => ws === this._ws && this._opened();
    ws.onmessage = (event) => ws === this._ws && this._received(event.data);
    ws.onerror = (event) => ws === this._ws && this._emit("error", event?.error ?? new RoostError("connection", event?.message ?? "WebSocket error"));
    ws.onclose = (event) => {
      if (ws === this._ws) this._lost(event.code, event.reason);
      else if (this._state === "closed" && ws === this._lastSocket) this._resolveClosing?.();
    };
  }
  _opened() {
    if (this._codec && this._ws.protocol !== this._codec.subprotocol) {
      const error = new ProtocolError(1002, `the server did not accept ${this._codec.subprotocol}`);
      this._emit("error", error);
      this._shutdown(new RpcError(CLIENT_CODES.CLOSED, error.message, { closeCode: 1002 }), 1e3, "no envelope subprotocol");
      return;
    }
    this._transition("open");
    this._attempt = 0;
    const queued = this._offline;
    this._offline = [];
    for (const { frame, call } of queued) {
      if (call) {
        call.entry = null;
        this._inFlight.set(call.id, call);
      }
      this._ws.send(frame);
    }
    this._ready.resolve();
    this._emit("open");
  }
  _received(data) {
    if (this._codec === null) {
      this._emit("message", typeof data === "string" ? data : new Uint8Array(data));
      return;
    }
    let envelope;
    try {
      envelope = this._codec.decode(data);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this._emit("error", error);
      this._dropSocket(error.closeCode, error.message);
      return;
    }
    if (envelope === null || typeof envelope !== "object" || Array.isArray(envelope)) {
      this._emit("error", new ProtocolError(1007, "an envelope that is not a map"));
      return;
    }
    switch (envelope.type) {
      case "result":
      case "error": {
        const call = this._inFlight.get(envelope.id);
        if (envelope.type === "error" && (envelope.id === null || envelope.id === void 0)) {
          this._emit("error", new RpcError(String(envelope.code), String(envelope.message)));
          return;
        }
        if (!call) return;
        this._inFlight.delete(envelope.id);
        this._settle(call);
        if (envelope.type === "result") call.resolve(envelope.value ?? null);
        else call.reject(new RpcError(String(envelope.code), String(envelope.message)));
        return;
      }
      case "event": {
        const seq = Number.isSafeInteger(envelope.seq) && envelope.seq >= 0 ? envelope.seq : null;
        if (seq !== null && envelope.name === "resync") {
          this._lastSeq = seq;
          this._emit("resync", { seq });
          return;
        }
        if (seq !== null) {
          if (this._lastSeq !== null && seq <= this._lastSeq) return;
          this._lastSeq = seq;
        }
        this._emit("event", String(envelope.name), envelope.data ?? null, seq);
        return;
      }
      default:
        return;
    }
  }
  /** Closes the current socket from our side (a protocol violation); the close event follows. */
  _dropSocket(code, reason) {
    const ws = this._ws;
    try {
      ws.close(code, reason);
    } catch {
      ws.close();
    }
  }
  /** The socket is gone (or never opened): fail what was in flight, then retry or stop. */
  _lost(code, reason) {
    this._ws = null;
    const fatal = FATAL_CLOSE_CODES.includes(code);
    const willReconnect = this._reconnect && !fatal;
    const why = `connection lost (close code ${code}${reason ? `: ${reason}` : ""})`;
    if (!willReconnect) {
      this._lastSocket = null;
      this._shutdown(new RpcError(CLIENT_CODES.CLOSED, why, { closeCode: code }), null, null, { code, reason });
      return;
    }
    this._failInFlight(new RpcError(CLIENT_CODES.UNAVAILABLE, why, { closeCode: code }));
    this._index = (this._index + 1) % this.urls.length;
    let delay = 0;
    if (this._state === "open") {
      this._transition("reconnecting");
      this._emit("close", { code, reason, willReconnect: true });
      this._roundLeft = this.urls.length - 1;
      if (!this._skipsBackoff(code)) delay = this._backoffDelay();
    } else if (this._roundLeft > 0) {
      this._roundLeft -= 1;
    } else {
      this._roundLeft = this.urls.length - 1;
      delay = this._backoffDelay();
    }
    this._timer = setTimeout(() => {
      this._timer = null;
      this._open();
    }, delay);
  }
  /** The next round's jittered, growing delay, in ms. */
  _backoffDelay() {
    const ceiling = Math.min(this._backoff.max, this._backoff.initial * 2 ** this._attempt);
    this._attempt = Math.min(this._attempt + 1, 30);
    return ceiling / 2 + Math.random() * ceiling / 2;
  }
  /** Whether the reconnection after `code` starts at once (1001, 1012; once per backoff.max). */
  _skipsBackoff(code) {
    const time = now();
    if (!IMMEDIATE_CLOSE_CODES.includes(code)) return false;
    if (this._lastImmediate !== null && time - this._lastImmediate < this._backoff.max) return false;
    this._lastImmediate = time;
    return true;
  }
  _failInFlight(error) {
    const calls = [...this._inFlight.values()];
    this._inFlight.clear();
    for (const call of calls) {
      this._settle(call);
      call.reject(error);
    }
  }
  /**
   * Stops for good: cancels the timer, fails everything with `error`, closes the socket with
   * `code` if one is open (null: it is closed already, with `closed`).
   */
  _shutdown(error, code = 1e3, reason = "", closed = null) {
    if (this._state === "closed") return;
    this._transition("closed");
    if (this._timer !== null) clearTimeout(this._timer);
    this._timer = null;
    this._failInFlight(error);
    const offline = this._offline;
    this._offline = [];
    for (const { call } of offline) {
      if (call) {
        this._settle(call);
        call.reject(error);
      }
    }
    this._ready.reject(error);
    const ws = this._ws;
    this._ws = null;
    if (ws && code !== null) {
      this._lastSocket = ws;
      this._closing = new Promise((resolve) => {
        this._resolveClosing = resolve;
      });
      try {
        ws.close(code, reason);
      } catch {
        ws.close();
      }
    }
    this._emit("close", { code: closed?.code ?? code ?? 1e3, reason: closed?.reason ?? reason ?? "", willReconnect: false });
  }
};
function connect(url, options) {
  return new RoostClient(url, options);
}
export {
  DEFAULT_LIMITS,
  FATAL_CLOSE_CODES,
  ProtocolError,
  RoostClient,
  RoostError,
  RpcError,
  actorUrl,
  connect
};
