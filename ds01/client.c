/* The fast client: ds01/client.py's remote path in C, so a served command costs no interpreter start.

   It is the interpreter of the installed bin/ scripts (their shebang; ds01/generate/bins.py builds it and
   writes the shebangs), so the kernel runs it as `ds01-client SCRIPT ARGS...`. It reads the command's name
   from SCRIPT's `main('NAME', ...)` line and sends the request ds01/client.py would send: the same frame, the
   same four fds, the same passed variables, the same signal lines, the same exit status. Whatever it does not
   handle it hands to the Python client unchanged, by running SCRIPT with the interpreter it was built for:
   root (which runs in-process), a command that is never served (local=True), a script it cannot read, and
   no ds01d to connect to (the Python client then runs in-process or says ds01d is not running).

   The wire constants are not written here: the build defines them from ds01/protocol.py (DS01_MAGIC,
   DS01_PASSED, DS01_PASSED_PREFIXES, DS01_FORWARDED, DS01_DEFAULT_SOCKET, DS01_SOCKET_VARIABLE) and the
   interpreter (DS01_PYTHON). It runs with the caller's rights only: it trusts nothing and nothing trusts it. */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

extern char **environ;

static const char *const passed[] = DS01_PASSED;
static const char *const passed_prefixes[] = DS01_PASSED_PREFIXES;
static const int forwarded[] = DS01_FORWARDED;
static int sock = -1;

/* The Python client, given everything this one does not handle. */
static void python(int argc, char **argv) {
    char **args = calloc((size_t)argc + 2, sizeof(char *));
    if (args == NULL) {
        perror("ds01-client");
        exit(1);
    }
    args[0] = DS01_PYTHON;
    args[1] = "-IS";
    for (int i = 1; i < argc; i++) args[i + 1] = argv[i];
    execv(DS01_PYTHON, args);
    fprintf(stderr, "%s: error: cannot run %s: %s\n", argc > 1 ? argv[1] : "ds01", DS01_PYTHON, strerror(errno));
    exit(1);
}

/* The command's name from the script's `main('NAME'...)` call; 0 when it is not a served command's script. */
static int command_name(const char *script, char *name, size_t size) {
    char text[4096];
    int fd = open(script, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t got = read(fd, text, sizeof text - 1);
    close(fd);
    if (got <= 0) return 0;
    text[got] = '\0';
    if (strstr(text, "\nfrom ds01.client import main\n") == NULL || strstr(text, "local=True") != NULL) return 0;
    const char *call = strstr(text, "\nmain('");
    if (call == NULL) return 0;
    call += strlen("\nmain('");
    size_t length = strcspn(call, "'\n");
    if (length == 0 || length >= size || call[length] != '\'') return 0;
    memcpy(name, call, length);
    name[length] = '\0';
    return 1;
}

/* A growing buffer for the frame. */
struct buffer {
    char *data;
    size_t used, size;
};

static void append(struct buffer *b, const void *data, size_t length) {
    if (b->used + length > b->size) {
        size_t size = b->size ? b->size : 4096;
        while (b->used + length > size) size *= 2;
        char *grown = realloc(b->data, size);
        if (grown == NULL) {
            perror("ds01-client");
            exit(1);
        }
        b->data = grown;
        b->size = size;
    }
    memcpy(b->data + b->used, data, length);
    b->used += length;
}

static void field(struct buffer *b, const char *text) {
    if (b->used > 4) append(b, "", 1); /* NUL between fields, none before the first */
    append(b, text, strlen(text));
}

static int is_passed(const char *entry) {
    size_t length = strcspn(entry, "=");
    if (entry[length] != '=') return 0;
    for (size_t i = 0; i < sizeof passed / sizeof *passed; i++)
        if (strlen(passed[i]) == length && strncmp(entry, passed[i], length) == 0) return 1;
    for (size_t i = 0; i < sizeof passed_prefixes / sizeof *passed_prefixes; i++)
        if (strncmp(entry, passed_prefixes[i], strlen(passed_prefixes[i])) == 0) return 1;
    return 0;
}

/* As os.environ reads the environment: a name that occurs twice keeps its first value. */
static int seen_before(char **entry) {
    size_t length = strcspn(*entry, "=");
    for (char **earlier = environ; earlier < entry; earlier++)
        if (strncmp(*earlier, *entry, length + 1) == 0) return 1;
    return 0;
}

static void forward(int signum) {
    char line[16];
    int length = snprintf(line, sizeof line, "signal %d\n", signum);
    int saved = errno;
    if (sock >= 0) (void)send(sock, line, (size_t)length, MSG_NOSIGNAL);
    errno = saved;
}

static int send_request(const char *name, int argc, char **argv) {
    struct buffer frame = {0};
    char number[32];
    append(&frame, "\0\0\0\0", 4);
    field(&frame, DS01_MAGIC);
    field(&frame, name);
    mode_t mask = umask(022);
    umask(mask);
    snprintf(number, sizeof number, "%u", (unsigned)mask);
    field(&frame, number);
    snprintf(number, sizeof number, "%d", argc - 2);
    field(&frame, number);
    for (int i = 2; i < argc; i++) field(&frame, argv[i]);
    for (char **entry = environ; *entry != NULL; entry++)
        if (is_passed(*entry) && !seen_before(entry)) field(&frame, *entry);
    size_t body = frame.used - 4;
    frame.data[0] = (char)(body >> 24);
    frame.data[1] = (char)(body >> 16);
    frame.data[2] = (char)(body >> 8);
    frame.data[3] = (char)body;

    int fds[4], opened[3], nopened = 0;
    static const int modes[3] = {O_RDONLY, O_WRONLY, O_WRONLY};
    for (int fd = 0; fd < 3; fd++) {
        struct stat st;
        fds[fd] = fd;
        if (fstat(fd, &st) < 0) {
            fds[fd] = opened[nopened++] = open("/dev/null", modes[fd] | O_CLOEXEC);
        }
    }
    fds[3] = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fds[3] < 0) fds[3] = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    char control[CMSG_SPACE(sizeof fds)];
    memset(control, 0, sizeof control);
    struct iovec first = {frame.data, 1};
    struct msghdr message = {.msg_iov = &first, .msg_iovlen = 1, .msg_control = control,
                             .msg_controllen = sizeof control};
    struct cmsghdr *rights = CMSG_FIRSTHDR(&message);
    rights->cmsg_level = SOL_SOCKET;
    rights->cmsg_type = SCM_RIGHTS;
    rights->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(rights), fds, sizeof fds);
    ssize_t sent;
    do sent = sendmsg(sock, &message, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    int ok = sent == 1;
    size_t done = ok ? 1 : frame.used;
    while (done < frame.used) {
        ssize_t n = send(sock, frame.data + done, frame.used - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; /* ds01d answered before reading it all (busy): its answer is still there to read */
        done += (size_t)n;
    }
    for (int i = 0; i < nopened; i++) close(opened[i]);
    if (fds[3] >= 0) close(fds[3]);
    free(frame.data);
    return ok;
}

/* ds01d's answer: each `error TEXT` line to stderr, then the status of `exit N`; -1 when it closed without one. */
static int read_exit(const char *name) {
    char buffered[8192];
    size_t used = 0;
    for (;;) {
        ssize_t got = recv(sock, buffered + used, sizeof buffered - used, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return -1;
        used += (size_t)got;
        char *newline;
        while ((newline = memchr(buffered, '\n', used)) != NULL) {
            *newline = '\0';
            if (strncmp(buffered, "exit ", 5) == 0 && buffered[5] != '\0' &&
                strspn(buffered + 5, "0123456789") == strlen(buffered + 5))
                return atoi(buffered + 5) & 0xff;
            if (strncmp(buffered, "error ", 6) == 0) fprintf(stderr, "%s: error: %s\n", name, buffered + 6);
            size_t line = (size_t)(newline - buffered) + 1;
            memmove(buffered, newline + 1, used - line);
            used -= line;
        }
        if (used == sizeof buffered) used = 0; /* a line longer than any ds01d writes: dropped */
    }
}

int main(int argc, char **argv) {
    char name[256];
    if (argc < 2 || geteuid() == 0 || !command_name(argv[1], name, sizeof name)) python(argc, argv);
    const char *path = getenv(DS01_SOCKET_VARIABLE);
    if (path == NULL || *path == '\0') path = DS01_DEFAULT_SOCKET;
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof address.sun_path) python(argc, argv);
    strcpy(address.sun_path, path);
    sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0 || connect(sock, (struct sockaddr *)&address, sizeof address) < 0) {
        if (sock >= 0) close(sock);
        python(argc, argv); /* no ds01d here: in-process, or the Python client's error */
    }
    signal(SIGPIPE, SIG_IGN); /* as Python: a closed pipe is an error to handle, not a death */
    struct sigaction action = {.sa_handler = forward, .sa_flags = SA_RESTART};
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++) sigaction(forwarded[i], &action, NULL);
    send_request(name, argc, argv);
    int code = read_exit(name);
    if (code < 0) {
        fprintf(stderr, "%s: error: ds01d closed the connection without an exit status\n"
                        "  hint: an admin finds why in `journalctl -u ds01d`\n", name);
        return 1;
    }
    return code;
}
