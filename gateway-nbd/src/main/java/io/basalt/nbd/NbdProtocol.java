package io.basalt.nbd;

/**
 * Constants of the NBD protocol (fixed newstyle), from the spec ({@code NetworkBlockDevice/nbd:
 * doc/proto.md}). All fields are big-endian. The subset Basalt speaks is written down in
 * {@code docs/formats.md}.
 *
 * <pre>
 * Server greeting (18 bytes)          Option request (16 + n)         Option reply (20 + n)
 *   0  u64 NBDMAGIC                     0  u64 IHAVEOPT                  0  u64 REPLY_MAGIC
 *   8  u64 IHAVEOPT                     8  u32 option                    8  u32 option
 *  16  u16 handshake flags             12  u32 length n                 12  u32 reply type
 * Client flags (4 bytes): u32          16  n bytes data                 16  u32 length n
 *                                                                        20  n bytes data
 * Request (28 + payload)              Simple reply (16 + data)        Structured chunk (20 + n)
 *   0  u32 REQUEST_MAGIC                0  u32 SIMPLE_REPLY_MAGIC        0  u32 STRUCTURED_MAGIC
 *   4  u16 command flags                4  u32 error                     4  u16 flags
 *   6  u16 type                         8  u64 handle                    6  u16 type
 *   8  u64 handle                      16  data (READ only)              8  u64 handle
 *  16  u64 offset                                                       16  u32 length n
 *  24  u32 length                                                       20  n bytes payload
 *  28  payload (WRITE only)
 * </pre>
 */
public final class NbdProtocol {
    private NbdProtocol() {}

    public static final long NBDMAGIC = 0x4e42444d41474943L;
    public static final long IHAVEOPT = 0x49484156454F5054L;
    public static final long OPTION_REPLY_MAGIC = 0x3e889045565a9L;
    public static final int REQUEST_MAGIC = 0x25609513;
    public static final int SIMPLE_REPLY_MAGIC = 0x67446698;
    public static final int STRUCTURED_REPLY_MAGIC = 0x668e33ef;

    public static final int GREETING_BYTES = 18;
    public static final int OPTION_HEADER_BYTES = 16;
    public static final int OPTION_REPLY_HEADER_BYTES = 20;
    public static final int REQUEST_HEADER_BYTES = 28;
    public static final int SIMPLE_REPLY_HEADER_BYTES = 16;
    public static final int STRUCTURED_REPLY_HEADER_BYTES = 20;
    /** Reply to NBD_OPT_EXPORT_NAME: size, flags, and 124 zero bytes unless NO_ZEROES. */
    public static final int EXPORT_NAME_REPLY_ZEROES = 124;

    // Handshake flags (server) and client flags.
    public static final int FLAG_FIXED_NEWSTYLE = 1;
    public static final int FLAG_NO_ZEROES = 1 << 1;
    public static final int FLAG_C_FIXED_NEWSTYLE = 1;
    public static final int FLAG_C_NO_ZEROES = 1 << 1;

    // Transmission flags.
    public static final int FLAG_HAS_FLAGS = 1;
    public static final int FLAG_READ_ONLY = 1 << 1;
    public static final int FLAG_SEND_FLUSH = 1 << 2;
    public static final int FLAG_SEND_FUA = 1 << 3;
    public static final int FLAG_ROTATIONAL = 1 << 4;
    public static final int FLAG_SEND_TRIM = 1 << 5;
    public static final int FLAG_SEND_WRITE_ZEROES = 1 << 6;
    public static final int FLAG_SEND_DF = 1 << 7;
    public static final int FLAG_CAN_MULTI_CONN = 1 << 8;
    public static final int FLAG_SEND_CACHE = 1 << 10;
    public static final int FLAG_SEND_FAST_ZERO = 1 << 11;

    // Options.
    public static final int OPT_EXPORT_NAME = 1;
    public static final int OPT_ABORT = 2;
    public static final int OPT_LIST = 3;
    public static final int OPT_STARTTLS = 5;
    public static final int OPT_INFO = 6;
    public static final int OPT_GO = 7;
    public static final int OPT_STRUCTURED_REPLY = 8;
    // Numbers as in the current spec and libnbd/qemu (an older draft of the spec used 10 and 11).
    public static final int OPT_LIST_META_CONTEXT = 9;
    public static final int OPT_SET_META_CONTEXT = 10;
    public static final int OPT_EXTENDED_HEADERS = 11;

    // Option reply types.
    public static final int REP_ACK = 1;
    public static final int REP_SERVER = 2;
    public static final int REP_INFO = 3;
    public static final int REP_META_CONTEXT = 4;
    public static final int REP_ERR_UNSUP = 0x80000001;
    public static final int REP_ERR_POLICY = 0x80000002;
    public static final int REP_ERR_INVALID = 0x80000003;
    public static final int REP_ERR_PLATFORM = 0x80000004;
    public static final int REP_ERR_TLS_REQD = 0x80000005;
    public static final int REP_ERR_UNKNOWN = 0x80000006;
    public static final int REP_ERR_SHUTDOWN = 0x80000007;
    public static final int REP_ERR_BLOCK_SIZE_REQD = 0x80000008;
    public static final int REP_ERR_TOO_BIG = 0x80000009;

    // NBD_REP_INFO types.
    public static final int INFO_EXPORT = 0;
    public static final int INFO_NAME = 1;
    public static final int INFO_DESCRIPTION = 2;
    public static final int INFO_BLOCK_SIZE = 3;

    // Commands.
    public static final int CMD_READ = 0;
    public static final int CMD_WRITE = 1;
    public static final int CMD_DISC = 2;
    public static final int CMD_FLUSH = 3;
    public static final int CMD_TRIM = 4;
    public static final int CMD_CACHE = 5;
    public static final int CMD_WRITE_ZEROES = 6;
    public static final int CMD_BLOCK_STATUS = 7;

    // Command flags.
    public static final int CMD_FLAG_FUA = 1;
    public static final int CMD_FLAG_NO_HOLE = 1 << 1;
    public static final int CMD_FLAG_DF = 1 << 2;
    public static final int CMD_FLAG_REQ_ONE = 1 << 3;
    public static final int CMD_FLAG_FAST_ZERO = 1 << 4;

    // Structured reply flags and types.
    public static final int REPLY_FLAG_DONE = 1;
    public static final int REPLY_TYPE_NONE = 0;
    public static final int REPLY_TYPE_OFFSET_DATA = 1;
    public static final int REPLY_TYPE_OFFSET_HOLE = 2;
    public static final int REPLY_TYPE_BLOCK_STATUS = 5;
    public static final int REPLY_TYPE_ERROR = 0x8001;
    public static final int REPLY_TYPE_ERROR_OFFSET = 0x8002;

    // base:allocation status flags.
    public static final int STATE_HOLE = 1;
    public static final int STATE_ZERO = 1 << 1;
    public static final String BASE_ALLOCATION = "base:allocation";

    // Error values (errno numbers as the spec fixes them).
    public static final int EPERM = 1;
    public static final int EIO = 5;
    public static final int ENOMEM = 12;
    public static final int EINVAL = 22;
    public static final int ENOSPC = 28;
    public static final int EOVERFLOW = 75;
    public static final int ENOTSUP = 95;
    public static final int ESHUTDOWN = 108;

    /** Strings (export names, queries, messages) may not exceed this (spec: MUST be no longer). */
    public static final int STRING_BYTES_MAX = 4096;

    public static String commandName(int type) {
        return switch (type) {
            case CMD_READ -> "read";
            case CMD_WRITE -> "write";
            case CMD_DISC -> "disc";
            case CMD_FLUSH -> "flush";
            case CMD_TRIM -> "trim";
            case CMD_CACHE -> "cache";
            case CMD_WRITE_ZEROES -> "write_zeroes";
            case CMD_BLOCK_STATUS -> "block_status";
            default -> "unknown";
        };
    }

    public static String optionName(int option) {
        return switch (option) {
            case OPT_EXPORT_NAME -> "EXPORT_NAME";
            case OPT_ABORT -> "ABORT";
            case OPT_LIST -> "LIST";
            case OPT_STARTTLS -> "STARTTLS";
            case OPT_INFO -> "INFO";
            case OPT_GO -> "GO";
            case OPT_STRUCTURED_REPLY -> "STRUCTURED_REPLY";
            case OPT_LIST_META_CONTEXT -> "LIST_META_CONTEXT";
            case OPT_SET_META_CONTEXT -> "SET_META_CONTEXT";
            case OPT_EXTENDED_HEADERS -> "EXTENDED_HEADERS";
            default -> "option " + option;
        };
    }
}
