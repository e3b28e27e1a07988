/* drafts_peer: one libzmq 4.3.5 socket (built with the DRAFT API) driven line by line on
 * stdin, one answer line per command on stdout. The interop tests of the draft socket types
 * and transports run it as the libzmq side (Debian's libzmq is built without drafts).
 *
 *   drafts_peer <TYPE>          TYPE: CLIENT SERVER RADIO DISH SCATTER GATHER PEER CHANNEL,
 *                               or a standard type (PAIR PUB SUB REQ REP DEALER ROUTER PULL
 *                               PUSH XPUB XSUB STREAM) for the ws:// and udp:// transports.
 * Commands (answers: "ok [value]", "err <errno> <text>", or for recv "msg ..."):
 *   bind <endpoint>             ok <last endpoint>
 *   connect <endpoint>          ok
 *   connect_peer <endpoint>     ok <routing id>            (PEER)
 *   set <option> <integer>      ok                         (names below)
 *   sets <option> <text>        ok
 *   join <group> | leave <group>
 *   zap <user> <password>       ok                         (a ZAP handler in this context:
 *                               PLAIN with these credentials and NULL pass, the rest 400)
 *   send <hex or -> [more] [rid=<n>] [group=<text>]        ("-" is an empty frame)
 *   recv                        msg <hex or -> more=<0|1> rid=<n> group=<text>
 *   quit
 * Receives wait at most RCVTIMEO (5 s unless set). */
#define ZMQ_BUILD_DRAFT_API 1
#include <zmq.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

struct named { const char *name; int value; };

static const struct named types[] = {
    {"PAIR", ZMQ_PAIR}, {"PUB", ZMQ_PUB}, {"SUB", ZMQ_SUB}, {"REQ", ZMQ_REQ},
    {"REP", ZMQ_REP}, {"DEALER", ZMQ_DEALER}, {"ROUTER", ZMQ_ROUTER}, {"PULL", ZMQ_PULL},
    {"PUSH", ZMQ_PUSH}, {"XPUB", ZMQ_XPUB}, {"XSUB", ZMQ_XSUB}, {"STREAM", ZMQ_STREAM},
    {"SERVER", ZMQ_SERVER}, {"CLIENT", ZMQ_CLIENT}, {"RADIO", ZMQ_RADIO}, {"DISH", ZMQ_DISH},
    {"GATHER", ZMQ_GATHER}, {"SCATTER", ZMQ_SCATTER}, {"PEER", ZMQ_PEER},
    {"CHANNEL", ZMQ_CHANNEL}, {NULL, 0}};

static const struct named int_options[] = {
    {"linger", ZMQ_LINGER}, {"rcvtimeo", ZMQ_RCVTIMEO}, {"sndtimeo", ZMQ_SNDTIMEO},
    {"sndhwm", ZMQ_SNDHWM}, {"rcvhwm", ZMQ_RCVHWM}, {"reconnect_ivl", ZMQ_RECONNECT_IVL},
    {"plain_server", ZMQ_PLAIN_SERVER}, {"multicast_hops", ZMQ_MULTICAST_HOPS},
    {"immediate", ZMQ_IMMEDIATE}, {"router_mandatory", ZMQ_ROUTER_MANDATORY},
    {"stream_notify", ZMQ_STREAM_NOTIFY}, {"router_notify", ZMQ_ROUTER_NOTIFY},
    {"invert_matching", ZMQ_INVERT_MATCHING}, {"xpub_nodrop", ZMQ_XPUB_NODROP},
    {"xpub_manual", ZMQ_XPUB_MANUAL}, {"zap_enforce_domain", ZMQ_ZAP_ENFORCE_DOMAIN},
    {"reconnect_stop", ZMQ_RECONNECT_STOP}, {"handshake_ivl", ZMQ_HANDSHAKE_IVL},
    {NULL, 0}};

static const struct named text_options[] = {
    {"subscribe", ZMQ_SUBSCRIBE}, {"unsubscribe", ZMQ_UNSUBSCRIBE},
    {"routing_id", ZMQ_ROUTING_ID}, {"plain_username", ZMQ_PLAIN_USERNAME},
    {"plain_password", ZMQ_PLAIN_PASSWORD}, {"zap_domain", ZMQ_ZAP_DOMAIN},
    {"hello_msg", ZMQ_HELLO_MSG}, {"disconnect_msg", ZMQ_DISCONNECT_MSG},
    {"hiccup_msg", ZMQ_HICCUP_MSG}, {"metadata", ZMQ_METADATA},
    {"xpub_welcome_msg", ZMQ_XPUB_WELCOME_MSG}, {NULL, 0}};

static int lookup(const struct named *table, const char *name) {
    for (; table->name; table++)
        if (strcmp(table->name, name) == 0)
            return table->value;
    return -1;
}

static void ok(const char *value) {
    printf(value ? "ok %s\n" : "ok\n", value);
    fflush(stdout);
}

static void fail(void) {
    printf("err %d %s\n", zmq_errno(), zmq_strerror(zmq_errno()));
    fflush(stdout);
}

static void usage_error(const char *what) {
    printf("err %d %s\n", EINVAL, what);
    fflush(stdout);
}

/* Decodes hex (or "-" for empty) into buf; the length, or -1 when malformed. */
static long unhex(const char *hex, unsigned char *buf, size_t cap) {
    if (strcmp(hex, "-") == 0)
        return 0;
    size_t n = strlen(hex);
    if (n % 2 || n / 2 > cap)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned int byte;
        if (sscanf(hex + 2 * i, "%2x", &byte) != 1)
            return -1;
        buf[i] = (unsigned char) byte;
    }
    return (long) (n / 2);
}

static unsigned char frame[1 << 20];

static void do_send(void *s, char *args) {
    char *hex = strtok(args, " ");
    if (!hex)
        return usage_error("send needs data");
    long len = unhex(hex, frame, sizeof frame);
    if (len < 0)
        return usage_error("bad hex");
    int flags = 0;
    unsigned long rid = 0;
    const char *group = NULL;
    for (char *arg; (arg = strtok(NULL, " "));) {
        if (strcmp(arg, "more") == 0)
            flags |= ZMQ_SNDMORE;
        else if (strncmp(arg, "rid=", 4) == 0)
            rid = strtoul(arg + 4, NULL, 10);
        else if (strncmp(arg, "group=", 6) == 0)
            group = arg + 6;
        else
            return usage_error("unknown send argument");
    }
    zmq_msg_t msg;
    zmq_msg_init_size(&msg, (size_t) len);
    memcpy(zmq_msg_data(&msg), frame, (size_t) len);
    if ((rid && zmq_msg_set_routing_id(&msg, (uint32_t) rid) != 0) ||
        (group && zmq_msg_set_group(&msg, group) != 0) || zmq_msg_send(&msg, s, flags) < 0) {
        fail();
        zmq_msg_close(&msg);
        return;
    }
    ok(NULL);
}

static void do_recv(void *s) {
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, s, 0) < 0) {
        fail();
        zmq_msg_close(&msg);
        return;
    }
    const unsigned char *data = zmq_msg_data(&msg);
    size_t len = zmq_msg_size(&msg);
    printf("msg ");
    if (len == 0)
        printf("-");
    for (size_t i = 0; i < len; i++)
        printf("%02x", data[i]);
    const char *group = zmq_msg_group(&msg);
    printf(" more=%d rid=%u group=%s\n", zmq_msg_more(&msg), zmq_msg_routing_id(&msg),
           group && *group ? group : "-");
    fflush(stdout);
    zmq_msg_close(&msg);
}

/* The ZAP handler (RFC 27): one REP on inproc://zeromq.zap.01 in its own thread. */
static char zap_user[256], zap_password[256];

static int zap_frame(void *zap, char *buf, size_t cap) {
    int n = zmq_recv(zap, buf, cap - 1, 0);
    if (n < 0)
        return -1;
    buf[n < (int) cap - 1 ? n : (int) cap - 1] = 0;
    return n;
}

static void *zap_loop(void *zap) {
    char version[16], id[256], domain[256], address[256], identity[256], mechanism[32];
    char user[256], password[256];
    for (;;) {
        if (zap_frame(zap, version, sizeof version) < 0)
            break;
        int id_len = zap_frame(zap, id, sizeof id);
        zap_frame(zap, domain, sizeof domain);
        zap_frame(zap, address, sizeof address);
        zap_frame(zap, identity, sizeof identity);
        zap_frame(zap, mechanism, sizeof mechanism);
        int more = 1, plain = strcmp(mechanism, "PLAIN") == 0, ok_ = !plain;
        size_t more_size = sizeof more;
        zmq_getsockopt(zap, ZMQ_RCVMORE, &more, &more_size);
        if (plain && more) {
            zap_frame(zap, user, sizeof user);
            zap_frame(zap, password, sizeof password);
            ok_ = strcmp(user, zap_user) == 0 && strcmp(password, zap_password) == 0;
            zmq_getsockopt(zap, ZMQ_RCVMORE, &more, &more_size);
        }
        while (more) { /* any further credentials */
            char rest[256];
            zap_frame(zap, rest, sizeof rest);
            zmq_getsockopt(zap, ZMQ_RCVMORE, &more, &more_size);
        }
        zmq_send(zap, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(zap, id, id_len < 0 ? 0 : (size_t) id_len, ZMQ_SNDMORE);
        zmq_send(zap, ok_ ? "200" : "400", 3, ZMQ_SNDMORE);
        zmq_send(zap, ok_ ? "OK" : "denied", ok_ ? 2 : 6, ZMQ_SNDMORE);
        zmq_send(zap, plain && ok_ ? user : "", plain && ok_ ? strlen(user) : 0, ZMQ_SNDMORE);
        zmq_send(zap, "", 0, 0);
    }
    zmq_close(zap);
    return NULL;
}

static void start_zap(void *ctx, char *args) {
    char *user = strtok(args, " "), *password = strtok(NULL, " ");
    if (!user || !password)
        return usage_error("zap needs a user and a password");
    snprintf(zap_user, sizeof zap_user, "%s", user);
    snprintf(zap_password, sizeof zap_password, "%s", password);
    void *zap = zmq_socket(ctx, ZMQ_REP);
    int linger = 0;
    zmq_setsockopt(zap, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(zap, "inproc://zeromq.zap.01") != 0) {
        fail();
        zmq_close(zap);
        return;
    }
    pthread_t thread;
    if (pthread_create(&thread, NULL, zap_loop, zap) != 0)
        return usage_error("pthread_create");
    pthread_detach(thread);
    ok(NULL);
}

int main(int argc, char **argv) {
    int type = argc == 2 ? lookup(types, argv[1]) : -1;
    if (type < 0) {
        fprintf(stderr, "usage: drafts_peer <socket type>\n");
        return 2;
    }
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, type);
    if (!s) {
        fprintf(stderr, "zmq_socket: %s\n", zmq_strerror(zmq_errno()));
        return 1;
    }
    int timeout = 5000, linger = 0;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    static char line[(1 << 21) + 256];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = 0;
        char *rest = strchr(line, ' ');
        if (rest)
            *rest++ = 0;
        else
            rest = line + strlen(line);
        if (strcmp(line, "quit") == 0) {
            break;
        } else if (strcmp(line, "bind") == 0) {
            char endpoint[256];
            size_t size = sizeof endpoint;
            if (zmq_bind(s, rest) != 0 || zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, endpoint, &size))
                fail();
            else
                ok(endpoint);
        } else if (strcmp(line, "connect") == 0) {
            zmq_connect(s, rest) == 0 ? ok(NULL) : fail();
        } else if (strcmp(line, "connect_peer") == 0) {
            uint32_t rid = zmq_connect_peer(s, rest);
            char value[16];
            snprintf(value, sizeof value, "%u", rid);
            rid ? ok(value) : fail();
        } else if (strcmp(line, "set") == 0 || strcmp(line, "sets") == 0) {
            char *value = strchr(rest, ' ');
            if (!value)
                usage_error("set needs a value");
            else {
                *value++ = 0;
                int option = lookup(line[3] ? text_options : int_options, rest);
                int number = atoi(value);
                if (option < 0)
                    usage_error("unknown option");
                else if (line[3] ? zmq_setsockopt(s, option, value, strlen(value))
                                 : zmq_setsockopt(s, option, &number, sizeof number))
                    fail();
                else
                    ok(NULL);
            }
        } else if (strcmp(line, "zap") == 0) {
            start_zap(ctx, rest);
        } else if (strcmp(line, "join") == 0) {
            zmq_join(s, rest) == 0 ? ok(NULL) : fail();
        } else if (strcmp(line, "leave") == 0) {
            zmq_leave(s, rest) == 0 ? ok(NULL) : fail();
        } else if (strcmp(line, "send") == 0) {
            do_send(s, rest);
        } else if (strcmp(line, "recv") == 0) {
            do_recv(s);
        } else {
            usage_error("unknown command");
        }
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}
