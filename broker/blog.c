/* The broker's one-line-per-event log. */
#include "broker/blog.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

static uint32_t blog_node_id;
static int blog_current_level = BLOG_INFO;
static FILE *blog_out;

static const char *const blog_names[] = {"error", "warn", "info", "debug"};
static const char *const blog_tags[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};

void blog_init(uint32_t node_id, int level, FILE *out)
{
    blog_node_id = node_id;
    blog_current_level = level;
    blog_out = out;
}

int blog_level(void)
{
    return blog_current_level;
}

int blog_level_parse(const char *name)
{
    for (int i = 0; i < (int)(sizeof(blog_names) / sizeof(blog_names[0])); i++)
        if (strcasecmp(name, blog_names[i]) == 0)
            return i;
    return -1;
}

const char *blog_level_name(int level)
{
    if (level < BLOG_ERROR || level > BLOG_DEBUG)
        return "?";
    return blog_names[level];
}

void blog(int level, const char *group, const char *fmt, ...)
{
    if (level > blog_current_level)
        return;
    if (level < BLOG_ERROR)
        level = BLOG_ERROR;
    if (level > BLOG_DEBUG)
        level = BLOG_DEBUG;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char line[2048];
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    int k = snprintf(line + n, sizeof line - n, ".%03ldZ %s node=%u group=%s ",
                     (long)(tv.tv_usec / 1000), blog_tags[level], blog_node_id,
                     group != NULL ? group : "-");
    if (k > 0 && (size_t)k < sizeof line - n)
        n += (size_t)k;
    va_list ap;
    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    if (k < 0)
        k = 0;
    n += (size_t)k < sizeof line - n - 1 ? (size_t)k : sizeof line - n - 2;
    line[n++] = '\n';
    line[n] = '\0';
    FILE *out = blog_out != NULL ? blog_out : stderr;
    fputs(line, out);
    fflush(out);
}
