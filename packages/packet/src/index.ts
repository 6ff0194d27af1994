export { Parser, MAX_PACKET_SIZE, type ParserOptions } from './parser.ts'
export { encode, encodedLength, writeToStream, PINGREQ, PINGRESP, DISCONNECT } from './encoder.ts'
export { PacketError, isPacketError, PacketErrorCodes, ReasonCode, type PacketErrorCode } from './errors.ts'
export * from './types.ts'
