/*
 * RFC 6455 framing for wsd, with no I/O: the server side of the protocol.
 * The parser is fed the bytes a client sent and calls back with whole
 * messages and control frames; it is tested by feeding it scripted bytes
 * (tests/unit/ws-test.c), never through a socket.
 *
 * What the parser enforces, closing with the RFC's codes:
 *   1002 protocol error: unmasked client frame, RSV bits set (no extension is
 *        negotiated), unknown opcode, fragmented or oversized (>125) control
 *        frame, continuation with no message open, a new data frame while a
 *        fragmented one is open, a close payload of 1 byte or with a code
 *        that may not appear on the wire, a 64-bit length with the top bit set;
 *   1007 invalid UTF-8 in a text message (checked as fragments arrive, so a
 *        sequence split across fragments is accepted and a bad byte fails
 *        at once) or in a close reason;
 *   1009 a message larger than the limit given to ws_parser_init.
 */
#ifndef GPIOWS_WS_H
#define GPIOWS_WS_H

#include <stddef.h>
#include <stdint.h>

enum ws_opcode {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xa
};

#define WS_CLOSE_NORMAL		1000
#define WS_CLOSE_GOING_AWAY	1001
#define WS_CLOSE_PROTOCOL	1002
#define WS_CLOSE_UNSUPPORTED	1003
#define WS_CLOSE_NO_STATUS	1005	/* never on the wire: "no code given" */
#define WS_CLOSE_BAD_DATA	1007
#define WS_CLOSE_POLICY		1008
#define WS_CLOSE_TOO_BIG	1009
#define WS_CLOSE_INTERNAL	1011

#define WS_MAX_HEADER		10	/* server frame header, unmasked */
#define WS_MAX_CONTROL		125

/*
 * Callbacks, each optional.  Data pointers are valid only during the call.
 * A callback returns 0 to go on, or nonzero to make ws_parser_feed stop at
 * once and return WS_PARSE_STOPPED (the caller is closing the connection).
 */
struct ws_callbacks {
	/* A whole data message (fragments joined); text is valid UTF-8. */
	int	(*on_message)(void *arg, int opcode, const unsigned char *data,
		    size_t len);
	int	(*on_ping)(void *arg, const unsigned char *data, size_t len);
	int	(*on_pong)(void *arg, const unsigned char *data, size_t len);
	/*
	 * A close frame: code is WS_CLOSE_NO_STATUS when the frame had no
	 * payload; reason is valid UTF-8, not NUL-terminated.  After it the
	 * parser ignores everything (the closing handshake has begun).
	 */
	int	(*on_close)(void *arg, int code, const char *reason, size_t len);
};

/*
 * struct ws_parser: state for one connection.  Kept small and allocated
 * inside the connection; the message buffer is allocated only while a
 * message longer than one frame's piece is being collected.
 */
struct ws_parser {
	const struct ws_callbacks *p_cb;
	void		*p_arg;
	size_t		 p_max;		/* largest message accepted */

	/* frame being read */
	int		 p_state;
	unsigned char	 p_hdr[14];
	size_t		 p_hdrlen;	/* header bytes collected */
	size_t		 p_hdrneed;	/* header bytes needed */
	int		 p_fin;
	int		 p_opcode;
	unsigned char	 p_mask[4];
	uint64_t	 p_remain;	/* payload bytes still to come */
	uint64_t	 p_done;	/* payload bytes of this frame read */

	/* control frame payload */
	unsigned char	 p_ctl[WS_MAX_CONTROL];
	size_t		 p_ctllen;

	/* data message being assembled */
	int		 p_msgop;	/* 0 when no message is open */
	unsigned char	*p_msg;
	size_t		 p_msglen;
	size_t		 p_msgcap;
	uint32_t	 p_utf8;	/* utf8_validate state of the message */
};

#define WS_PARSE_OK		0
#define WS_PARSE_STOPPED	(-1)
#define WS_PARSE_NOMEM		(-2)

/* ws_parser_init: max_message is the limit behind close code 1009. */
void	ws_parser_init(struct ws_parser *, size_t max_message,
	    const struct ws_callbacks *, void *arg);
/*
 * ws_parser_feed: consume len bytes (all of them, unless it stops).
 * Returns WS_PARSE_OK, WS_PARSE_STOPPED (a callback said stop),
 * WS_PARSE_NOMEM, or a close code (1002, 1007, 1009) for a protocol
 * violation: the caller sends a close frame with that code and reads no more.
 */
int	ws_parser_feed(struct ws_parser *, const unsigned char *data,
	    size_t len);
/* ws_parser_free: release the message buffer; the struct may be reused after init. */
void	ws_parser_free(struct ws_parser *);

/*
 * ws_frame_header: write the header of an unmasked server frame with FIN set
 * and a payload of len bytes into out (WS_MAX_HEADER bytes); returns its size.
 */
size_t	ws_frame_header(unsigned char *out, int opcode, uint64_t len);
/*
 * ws_close_payload: the payload of a close frame with code and reason (cut
 * at a UTF-8 boundary to fit 125 bytes) into out (WS_MAX_CONTROL bytes);
 * returns its size.
 */
size_t	ws_close_payload(unsigned char *out, int code, const char *reason);
/* ws_close_code_valid: may this code appear in a close frame on the wire? */
int	ws_close_code_valid(int code);
/*
 * ws_accept_key: Sec-WebSocket-Accept for a client's Sec-WebSocket-Key into
 * out (29 bytes with the NUL).  Returns 0, or -1 if the key is not the base64
 * form of 16 bytes.
 */
int	ws_accept_key(const char *key, char out[29]);

/*
 * utf8_validate: incremental UTF-8 check (RFC 3629: no overlongs, no
 * surrogates, nothing past U+10FFFF).  *state starts at 0 and carries a
 * sequence split between calls.  Returns 0 when valid so far, -1 at the
 * first invalid byte.  A text is complete when *state is 0 again.
 */
int	utf8_validate(uint32_t *state, const unsigned char *s, size_t len);

#endif
