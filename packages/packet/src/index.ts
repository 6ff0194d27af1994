export { Parser, MAX_PACKET_SIZE, type ParserOptions } from './parser.ts'
export { encode, encodedLength, encodePublish, withMessageId, writeToStream, PINGREQ, PINGRESP, DISCONNECT, type EncodedPublish } from './encoder.ts'
export { PacketError, isPacketError, PacketErrorCodes, ReasonCode, type PacketErrorCode } from './errors.ts'
export * from './types.ts'
