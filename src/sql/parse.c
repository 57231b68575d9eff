/* parse.c - a query's text to mpibatch's syntax tree (ast.h), through
 * libpg_query (the PostgreSQL parser as a library), whose parse tree comes
 * as JSON and is read with jansson.
 *
 * This file checks shape, not meaning: one SELECT over `input`, and only
 * the constructs the binder knows; everything else is refused here with a
 * message that names the construct and its position. It never looks at
 * the input file, types or functions' arity. Where libpg_query's JSON is
 * known to lose information (integer constants that are negative are
 * written as `{}`), the constant is read back from the query text at its
 * location, which the parser reports exactly. */
#include "sql/ast.h"
#include "sql/pool.h"
#include "base/utf8.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <pg_query.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_QUERY_BYTES (1u << 20)   /* 1 MiB of SQL is not a query */
#define MAX_DEPTH 256                /* expression nesting */

/* ---- positions and errors ------------------------------------------------- */

void mb_sql_linecol(const char *text, long pos, long *line, long *col)
{
    long l = 1, c = 1;
    for (long i = 0; i < pos && text[i]; i++) {
        if (text[i] == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    *line = l;
    *col = c;
}

typedef struct parser {
    const char *sql;
    const char *source;
    mb_status code;          /* MB_EUSAGE or MB_EJOB */
    mb_sql_pool *arena;
    mb_err *err;
    int depth;
    const char *alias;       /* FROM input [AS] alias */
} parser;

static mb_status fail(parser *p, long pos, const char *fmt, ...) MB_PRINTF(3, 4);

mb_status mb_sql_verr(mb_err *err, mb_status code, const char *sql, const char *source, long pos,
                      const char *fmt, va_list ap)
{
    char msg[MB_ERR_MAX / 2];
    long line, col;
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (pos < 0)
        return mb_err_set(err, code, "%s: %s", source, msg);
    mb_sql_linecol(sql, pos, &line, &col);
    return mb_err_set_at(err, code, pos + 1, "%s:%ld:%ld: %s", source, line, col, msg);
}

static mb_status fail(parser *p, long pos, const char *fmt, ...)
{
    va_list ap;
    mb_status st;
    va_start(ap, fmt);
    st = mb_sql_verr(p->err, p->code, p->sql, p->source, pos, fmt, ap);
    va_end(ap);
    return st;
}

static mb_status nomem(parser *p)
{
    return mb_err_set(p->err, MB_ENOMEM, "%s: out of memory while parsing the query", p->source);
}

/* ---- JSON helpers --------------------------------------------------------- */

static long loc_of(const json_t *body)
{
    json_t *l = json_object_get(body, "location");
    return json_is_integer(l) ? (long)json_integer_value(l) : -1;
}

/* The single key of a node object {"Kind": {...}}, and its body. */
static const char *node_kind(const json_t *node, json_t **body)
{
    const char *k;
    json_t *v;
    if (!json_is_object(node) || json_object_size(node) != 1)
        return NULL;
    json_object_foreach((json_t *)node, k, v) {
        *body = v;
        return k;
    }
    return NULL;
}

static const char *str_of(const json_t *body, const char *key)
{
    json_t *v = json_object_get(body, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The sval of a {"String": {"sval": ...}} node ("" for `{}`). */
static const char *string_node(const json_t *node)
{
    json_t *body;
    const char *k = node_kind(node, &body);
    if (!k || strcmp(k, "String") != 0)
        return NULL;
    const char *s = str_of(body, "sval");
    return s ? s : "";
}

/* ---- expressions ---------------------------------------------------------- */

static mb_status expr(parser *p, const json_t *node, mb_sql_node **out);

static mb_sql_node *new_node(parser *p, mb_sql_kind kind, long pos)
{
    mb_sql_node *n = mb_sql_pool_alloc(&p->arena, sizeof *n);
    if (n) {
        n->kind = kind;
        n->pos = pos;
    }
    return n;
}

static mb_status set_args(parser *p, mb_sql_node *n, size_t count)
{
    if (count && !(n->args = mb_sql_pool_alloc(&p->arena, count * sizeof *n->args)))
        return nomem(p);
    n->nargs = count;
    return MB_OK;
}

/* Converts a JSON array of expressions into n->args[first..]. */
static mb_status list_args(parser *p, mb_sql_node *n, const json_t *list, size_t first)
{
    size_t i, count = json_array_size(list);
    mb_status st;
    if ((st = set_args(p, n, first + count)) != MB_OK)
        return st;
    for (i = 0; i < count; i++)
        if ((st = expr(p, json_array_get(list, i), &n->args[first + i])) != MB_OK)
            return st;
    return MB_OK;
}

/* The numeric literal's text as written at `pos` ([-]digits[.digits][e[+-]d]). */
static mb_status number_text(parser *p, long pos, mb_sql_node *n)
{
    const char *s = p->sql + pos;
    size_t i = 0;
    int point = 0, e = 0;
    if (s[i] == '-' || s[i] == '+')
        i++;
    while (isdigit((unsigned char)s[i]) || s[i] == '.' || s[i] == '_' ||
           ((s[i] == 'e' || s[i] == 'E') && !e)) {
        if (s[i] == '.')
            point = 1;
        if (s[i] == 'e' || s[i] == 'E') {
            e = 1;
            if (s[i + 1] == '+' || s[i + 1] == '-')
                i++;
        }
        i++;
    }
    if (i == 0 || !isdigit((unsigned char)s[i - 1]) || memchr(s, '_', i))
        return fail(p, pos, "unsupported numeric constant");
    n->lit = point || e ? MB_SQL_LIT_NUM : MB_SQL_LIT_INT;
    if (!(n->text = mb_sql_pool_strndup(&p->arena, s, i)))
        return nomem(p);
    n->len = i;
    return MB_OK;
}

static mb_status constant(parser *p, const json_t *body, mb_sql_node **out)
{
    long pos = loc_of(body);
    mb_sql_node *n = new_node(p, MB_SQL_LITERAL, pos);
    json_t *v;
    if (!n)
        return nomem(p);
    *out = n;
    if (json_is_true(json_object_get(body, "isnull"))) {
        n->lit = MB_SQL_LIT_NULL;
        return MB_OK;
    }
    if ((v = json_object_get(body, "boolval"))) {
        n->lit = json_is_true(json_object_get(v, "boolval")) ? MB_SQL_LIT_TRUE
                                                              : MB_SQL_LIT_FALSE;
        return MB_OK;
    }
    if ((v = json_object_get(body, "sval"))) {
        const char *s = str_of(v, "sval");
        s = s ? s : "";
        n->lit = MB_SQL_LIT_STRING;
        n->len = strlen(s);
        return (n->text = mb_sql_pool_strndup(&p->arena, s, n->len)) ? MB_OK : nomem(p);
    }
    if ((json_object_get(body, "ival") || json_object_get(body, "fval")) && pos >= 0)
        return number_text(p, pos, n);
    if (json_object_get(body, "bsval"))
        return fail(p, pos, "bit-string constants are not supported");
    return fail(p, pos, "unsupported constant");
}

/* A column reference: name, or input.name / alias.name. */
static mb_status column(parser *p, const json_t *body, mb_sql_node **out)
{
    json_t *fields = json_object_get(body, "fields"), *body2;
    long pos = loc_of(body);
    size_t nf = json_array_size(fields);
    const char *name, *kind;
    mb_sql_node *n;

    if (nf == 0 || nf > 2)
        return fail(p, pos, "column references are name or input.name");
    kind = node_kind(json_array_get(fields, nf - 1), &body2);
    if (kind && strcmp(kind, "A_Star") == 0)
        return fail(p, pos, "SELECT * is a row-level query; mpibatch runs aggregations "
                            "(GROUP BY or aggregate functions) only");
    if (nf == 2) {
        const char *t = string_node(json_array_get(fields, 0));
        if (!t || (strcmp(t, "input") != 0 && !(p->alias && strcmp(t, p->alias) == 0)))
            return fail(p, pos, "unknown table '%s' (the query reads one table, input)",
                        t ? t : "?");
    }
    if (!(name = string_node(json_array_get(fields, nf - 1))))
        return fail(p, pos, "unsupported column reference");
    if (!(n = new_node(p, MB_SQL_COLUMN, pos)))
        return nomem(p);
    /* PostgreSQL folds unquoted names to lower case; DuckDB, whose
     * semantics we follow, matches names case-insensitively but keeps them
     * as written, so take the spelling from the text where it is there. */
    size_t len = strlen(name);
    const char *at = pos >= 0 ? p->sql + pos : NULL;
    if (at && nf == 2) {
        const char *dot = strchr(at, '.');
        at = dot ? dot + 1 : NULL;
    }
    if (at && *at == '"') {
        n->quoted = true;
    } else if (at && strncasecmp(at, name, len) == 0) {
        name = at;
    }
    if (!(n->name = mb_sql_pool_strndup(&p->arena, name, len)))
        return nomem(p);
    *out = n;
    return MB_OK;
}

typedef struct opname {
    const char *name;
    mb_sql_op op;
} opname;

static const opname binary_ops[] = {
    {"+", MB_SQL_ADD}, {"-", MB_SQL_SUB}, {"*", MB_SQL_MUL}, {"/", MB_SQL_DIV},
    {"//", MB_SQL_IDIV}, {"%", MB_SQL_MOD}, {"=", MB_SQL_EQ}, {"==", MB_SQL_EQ},
    {"<>", MB_SQL_NE}, {"<", MB_SQL_LT}, {"<=", MB_SQL_LE}, {">", MB_SQL_GT},
    {">=", MB_SQL_GE},
};

static mb_status func_node(parser *p, const char *name, long pos, const json_t *args,
                           mb_sql_node **out)
{
    mb_sql_node *n = new_node(p, MB_SQL_FUNC, pos);
    if (!n || !(n->name = mb_sql_pool_strndup(&p->arena, name, strlen(name))))
        return nomem(p);
    *out = n;
    return list_args(p, n, args, 0);
}

static mb_status a_expr_op(parser *p, const json_t *body, long pos, mb_sql_node **out)
{
    const char *op = string_node(json_array_get(json_object_get(body, "name"), 0));
    json_t *l = json_object_get(body, "lexpr"), *r = json_object_get(body, "rexpr");
    mb_sql_node *n;
    mb_status st;

    if (!op || json_array_size(json_object_get(body, "name")) != 1)
        return fail(p, pos, "unsupported operator");
    if (strcmp(op, "||") == 0) {
        json_t *pair = json_array();
        int bad = !pair || json_array_append(pair, l) || json_array_append(pair, r);
        if (bad) {
            json_decref(pair);
            return nomem(p);
        }
        st = func_node(p, "||", pos, pair, out);
        json_decref(pair);
        return st;
    }
    if (!(n = new_node(p, MB_SQL_OP, pos)))
        return nomem(p);
    *out = n;
    if (!l) {                                       /* prefix operator */
        if (strcmp(op, "-") != 0 && strcmp(op, "+") != 0)
            return fail(p, pos, "unsupported prefix operator '%s'", op);
        n->op = op[0] == '-' ? MB_SQL_NEG : MB_SQL_PLUS;
        if ((st = set_args(p, n, 1)) != MB_OK)
            return st;
        return expr(p, r, &n->args[0]);
    }
    for (size_t i = 0; i < MB_ARRAY_LEN(binary_ops); i++)
        if (strcmp(op, binary_ops[i].name) == 0) {
            n->op = binary_ops[i].op;
            if ((st = set_args(p, n, 2)) != MB_OK || (st = expr(p, l, &n->args[0])) != MB_OK)
                return st;
            return expr(p, r, &n->args[1]);
        }
    if (strcmp(op, "~") == 0 || strcmp(op, "~*") == 0 || strcmp(op, "!~") == 0)
        return fail(p, pos, "regular-expression operators are not supported (use LIKE)");
    return fail(p, pos, "unsupported operator '%s'", op);
}

static mb_status a_expr(parser *p, const json_t *body, mb_sql_node **out)
{
    const char *kind = str_of(body, "kind");
    const char *op = string_node(json_array_get(json_object_get(body, "name"), 0));
    json_t *l = json_object_get(body, "lexpr"), *r = json_object_get(body, "rexpr");
    long pos = loc_of(body);
    mb_sql_node *n;
    mb_status st;

    if (!kind || !op)
        return fail(p, pos, "unsupported expression");
    if (strcmp(kind, "AEXPR_OP") == 0)
        return a_expr_op(p, body, pos, out);
    if (strcmp(kind, "AEXPR_NULLIF") == 0) {
        if (!(n = new_node(p, MB_SQL_FUNC, pos)))
            return nomem(p);
        n->name = "nullif";
        *out = n;
        if ((st = set_args(p, n, 2)) != MB_OK || (st = expr(p, l, &n->args[0])) != MB_OK)
            return st;
        return expr(p, r, &n->args[1]);
    }
    if (strcmp(kind, "AEXPR_IN") == 0) {
        json_t *items, *lb;
        const char *lk = node_kind(r, &lb);
        if (!lk || strcmp(lk, "List") != 0)
            return fail(p, pos, "IN (subquery) is not supported");
        items = json_object_get(lb, "items");
        if (!(n = new_node(p, MB_SQL_IN, pos)))
            return nomem(p);
        *out = n;
        n->negated = strcmp(op, "<>") == 0;
        if ((st = list_args(p, n, items, 1)) != MB_OK)
            return st;
        return expr(p, l, &n->args[0]);
    }
    if (strcmp(kind, "AEXPR_BETWEEN") == 0 || strcmp(kind, "AEXPR_NOT_BETWEEN") == 0) {
        json_t *lb;
        const char *lk = node_kind(r, &lb);
        if (!lk || strcmp(lk, "List") != 0 || json_array_size(json_object_get(lb, "items")) != 2)
            return fail(p, pos, "malformed BETWEEN");
        if (!(n = new_node(p, MB_SQL_BETWEEN, pos)))
            return nomem(p);
        *out = n;
        n->negated = kind[6] == 'N';
        if ((st = list_args(p, n, json_object_get(lb, "items"), 1)) != MB_OK)
            return st;
        return expr(p, l, &n->args[0]);
    }
    if (strcmp(kind, "AEXPR_LIKE") == 0 || strcmp(kind, "AEXPR_ILIKE") == 0) {
        json_t *fb;
        const char *fk = node_kind(r, &fb);
        if (!(n = new_node(p, MB_SQL_LIKE, pos)))
            return nomem(p);
        *out = n;
        n->negated = op[0] == '!';
        n->ilike = strcmp(kind, "AEXPR_ILIKE") == 0;
        if (fk && strcmp(fk, "FuncCall") == 0) {      /* pattern ESCAPE e */
            json_t *names = json_object_get(fb, "funcname");
            const char *fn = string_node(json_array_get(names, json_array_size(names) - 1));
            if (fn && strcmp(fn, "like_escape") == 0) {
                if ((st = list_args(p, n, json_object_get(fb, "args"), 1)) != MB_OK)
                    return st;
                return expr(p, l, &n->args[0]);
            }
        }
        if ((st = set_args(p, n, 2)) != MB_OK || (st = expr(p, l, &n->args[0])) != MB_OK)
            return st;
        return expr(p, r, &n->args[1]);
    }
    if (strcmp(kind, "AEXPR_DISTINCT") == 0 || strcmp(kind, "AEXPR_NOT_DISTINCT") == 0)
        return fail(p, pos, "IS [NOT] DISTINCT FROM is not supported");
    if (strcmp(kind, "AEXPR_SIMILAR") == 0)
        return fail(p, pos, "SIMILAR TO is not supported (use LIKE)");
    if (strcmp(kind, "AEXPR_OP_ANY") == 0 || strcmp(kind, "AEXPR_OP_ALL") == 0)
        return fail(p, pos, "ANY/ALL are not supported");
    if (strcmp(kind, "AEXPR_BETWEEN_SYM") == 0 || strcmp(kind, "AEXPR_NOT_BETWEEN_SYM") == 0)
        return fail(p, pos, "BETWEEN SYMMETRIC is not supported");
    return fail(p, pos, "unsupported expression (%s)", kind);
}

static mb_status bool_expr(parser *p, const json_t *body, mb_sql_node **out)
{
    const char *op = str_of(body, "boolop");
    json_t *args = json_object_get(body, "args");
    mb_sql_node *n = new_node(p, MB_SQL_OP, loc_of(body));
    if (!n)
        return nomem(p);
    *out = n;
    if (!op)
        return fail(p, n->pos, "malformed boolean expression");
    n->op = strcmp(op, "AND_EXPR") == 0 ? MB_SQL_AND
            : strcmp(op, "OR_EXPR") == 0 ? MB_SQL_OR : MB_SQL_NOT;
    if ((n->op == MB_SQL_NOT) != (json_array_size(args) == 1))
        return fail(p, n->pos, "malformed boolean expression");
    return list_args(p, n, args, 0);
}

/* "numeric" + typmods (10, 2) -> "numeric(10,2)", then the type parser. */
static mb_status type_name(parser *p, const json_t *tn, mb_sql_dtype *out)
{
    json_t *names = json_object_get(tn, "names"), *mods = json_object_get(tn, "typmods");
    const char *name = string_node(json_array_get(names, json_array_size(names) - 1));
    long pos = loc_of(tn);
    char text[96];
    size_t len;
    mb_err e;

    if (!name)
        return fail(p, pos, "unsupported type");
    if (json_object_get(tn, "arrayBounds"))
        return fail(p, pos, "array types are not supported");
    if (strcmp(name, "timestamptz") == 0 || strcmp(name, "interval") == 0 ||
        strcmp(name, "time") == 0 || strcmp(name, "timetz") == 0)
        return fail(p, pos, "type %s is not supported (BIGINT, DECIMAL, DOUBLE, VARCHAR, "
                            "BOOLEAN, DATE, TIMESTAMP)", name);
    len = (size_t)snprintf(text, sizeof text, "%s", name);
    for (size_t i = 0; i < json_array_size(mods) && len < sizeof text - 24; i++) {
        json_t *b;
        const char *k = node_kind(json_array_get(mods, i), &b);
        long mpos = loc_of(b);
        if (!k || strcmp(k, "A_Const") != 0 || mpos < 0)
            return fail(p, pos, "type parameters must be integer constants");
        json_t *iv = json_object_get(json_object_get(b, "ival"), "ival");
        long long v = json_is_integer(iv) ? (long long)json_integer_value(iv) : 0;
        len += (size_t)snprintf(text + len, sizeof text - len, "%s%lld", i ? "," : "(", v);
    }
    if (json_array_size(mods))
        len += (size_t)snprintf(text + len, sizeof text - len, ")");
    if (mb_sql_dtype_parse(text, strlen(text), out, &e) != MB_OK)
        return fail(p, pos, "%s", e.msg);
    return MB_OK;
}

static mb_status type_cast(parser *p, const json_t *body, mb_sql_node **out)
{
    mb_sql_node *n = new_node(p, MB_SQL_CAST, loc_of(body));
    mb_status st;
    if (!n)
        return nomem(p);
    *out = n;
    if (n->pos < 0)                    /* DATE '...' has no location of its own */
        n->pos = loc_of(json_object_get(body, "typeName"));
    if ((st = type_name(p, json_object_get(body, "typeName"), &n->type)) != MB_OK ||
        (st = set_args(p, n, 1)) != MB_OK)
        return st;
    return expr(p, json_object_get(body, "arg"), &n->args[0]);
}

static mb_status case_expr(parser *p, const json_t *body, mb_sql_node **out)
{
    json_t *arg = json_object_get(body, "arg"), *whens = json_object_get(body, "args");
    json_t *def = json_object_get(body, "defresult");
    size_t nw = json_array_size(whens), k = 0;
    mb_sql_node *n = new_node(p, MB_SQL_CASE, loc_of(body));
    mb_status st;

    if (!n)
        return nomem(p);
    *out = n;
    n->has_operand = arg != NULL;
    n->has_else = def != NULL;
    if ((st = set_args(p, n, (arg ? 1 : 0) + 2 * nw + (def ? 1 : 0))) != MB_OK)
        return st;
    if (arg && (st = expr(p, arg, &n->args[k++])) != MB_OK)
        return st;
    for (size_t i = 0; i < nw; i++) {
        json_t *wb;
        const char *wk = node_kind(json_array_get(whens, i), &wb);
        if (!wk || strcmp(wk, "CaseWhen") != 0)
            return fail(p, n->pos, "malformed CASE");
        if ((st = expr(p, json_object_get(wb, "expr"), &n->args[k++])) != MB_OK ||
            (st = expr(p, json_object_get(wb, "result"), &n->args[k++])) != MB_OK)
            return st;
    }
    return def ? expr(p, def, &n->args[k]) : MB_OK;
}

static mb_status sort_list(parser *p, const json_t *list, mb_sql_sort **out, size_t *n);

/* SQL's special-syntax functions under their plain names. */
static const char *plain_name(const char *schema, const char *name)
{
    static const char *const map[][2] = {
        {"extract", "date_part"}, {"btrim", "trim"}, {"substring", "substr"},
        {"ltrim", "ltrim"},       {"rtrim", "rtrim"}, {"position", "position"},
    };
    if (!schema)
        return name;
    for (size_t i = 0; i < MB_ARRAY_LEN(map); i++)
        if (strcmp(name, map[i][0]) == 0)
            return map[i][1];
    return NULL;
}

static mb_status func_call(parser *p, const json_t *body, mb_sql_node **out)
{
    json_t *names = json_object_get(body, "funcname");
    size_t nn = json_array_size(names);
    long pos = loc_of(body);
    const char *schema = nn == 2 ? string_node(json_array_get(names, 0)) : NULL;
    const char *name = nn ? string_node(json_array_get(names, nn - 1)) : NULL;
    json_t *filter = json_object_get(body, "agg_filter");
    mb_sql_node *n;
    mb_status st;
    char lower[64];
    size_t i;

    if (!name || nn > 2 || (nn == 2 && (!schema || strcmp(schema, "pg_catalog") != 0)))
        return fail(p, pos, "unsupported function name");
    if (json_object_get(body, "over"))
        return fail(p, pos, "window functions (OVER) are not supported");
    if (json_is_true(json_object_get(body, "agg_within_group")))
        return fail(p, pos, "WITHIN GROUP is not supported");
    if (json_is_true(json_object_get(body, "func_variadic")))
        return fail(p, pos, "VARIADIC is not supported");
    if (!(name = plain_name(schema, name)))
        return fail(p, pos, "%s() is not supported",
                    string_node(json_array_get(names, nn - 1)));
    for (i = 0; name[i] && i < sizeof lower - 1; i++)
        lower[i] = (char)tolower((unsigned char)name[i]);
    lower[i] = '\0';
    if (name[i])
        return fail(p, pos, "function name too long");
    if ((st = func_node(p, lower, pos, json_object_get(body, "args"), &n)) != MB_OK)
        return st;
    *out = n;
    if (json_is_true(json_object_get(body, "agg_star"))) {
        if (n->nargs)
            return fail(p, pos, "%s(*) takes no other arguments", lower);
        if ((st = set_args(p, n, 1)) != MB_OK)
            return st;
        if (!(n->args[0] = new_node(p, MB_SQL_STAR, pos)))
            return nomem(p);
    }
    n->distinct = json_is_true(json_object_get(body, "agg_distinct"));
    if (filter && (st = expr(p, filter, &n->filter)) != MB_OK)
        return st;
    return sort_list(p, json_object_get(body, "agg_order"), &n->order, &n->norder);
}

typedef struct unsupported {
    const char *kind, *what;
} unsupported;

static const unsupported refused[] = {
    {"SubLink", "subqueries are not supported"},
    {"ParamRef", "query parameters ($1) are not supported"},
    {"A_ArrayExpr", "arrays are not supported"},
    {"A_Indirection", "subscripts and field selection are not supported"},
    {"RowExpr", "row constructors are not supported"},
    {"CollateClause", "COLLATE is not supported"},
    {"SQLValueFunction", "CURRENT_DATE, CURRENT_TIMESTAMP and the like are not supported "
                         "(a query must give the same answer whenever it runs)"},
    {"GroupingFunc", "GROUPING() is not supported"},
    {"XmlExpr", "XML functions are not supported"},
};

static mb_status expr(parser *p, const json_t *node, mb_sql_node **out)
{
    json_t *body = NULL;
    const char *kind = node_kind(node, &body);
    mb_status st;

    if (!kind)
        return fail(p, -1, "malformed parse tree");
    if (++p->depth > MAX_DEPTH) {
        p->depth--;
        return fail(p, loc_of(body), "expression nested too deeply (more than %d levels)",
                    MAX_DEPTH);
    }
    if (strcmp(kind, "A_Const") == 0)
        st = constant(p, body, out);
    else if (strcmp(kind, "ColumnRef") == 0)
        st = column(p, body, out);
    else if (strcmp(kind, "A_Expr") == 0)
        st = a_expr(p, body, out);
    else if (strcmp(kind, "BoolExpr") == 0)
        st = bool_expr(p, body, out);
    else if (strcmp(kind, "FuncCall") == 0)
        st = func_call(p, body, out);
    else if (strcmp(kind, "TypeCast") == 0)
        st = type_cast(p, body, out);
    else if (strcmp(kind, "CaseExpr") == 0)
        st = case_expr(p, body, out);
    else if (strcmp(kind, "NullTest") == 0 || strcmp(kind, "BooleanTest") == 0) {
        const char *t = str_of(body, kind[0] == 'N' ? "nulltesttype" : "booltesttype");
        mb_sql_node *n = new_node(p, kind[0] == 'N' ? MB_SQL_IS_NULL : MB_SQL_IS_BOOL,
                                  loc_of(body));
        if (!n)
            return p->depth--, nomem(p);
        *out = n;
        t = t ? t : "";
        n->negated = strstr(t, "_NOT_") != NULL;
        n->lit = strstr(t, "TRUE") ? MB_SQL_LIT_TRUE
                 : strstr(t, "FALSE") ? MB_SQL_LIT_FALSE : MB_SQL_LIT_NULL;
        if ((st = set_args(p, n, 1)) == MB_OK)
            st = expr(p, json_object_get(body, "arg"), &n->args[0]);
    } else if (strcmp(kind, "CoalesceExpr") == 0) {
        st = func_node(p, "coalesce", loc_of(body), json_object_get(body, "args"), out);
    } else if (strcmp(kind, "MinMaxExpr") == 0) {
        const char *op = str_of(body, "op");
        st = func_node(p, op && strcmp(op, "IS_LEAST") == 0 ? "least" : "greatest",
                       loc_of(body), json_object_get(body, "args"), out);
    } else {
        st = MB_EINTERNAL;
        for (size_t i = 0; i < MB_ARRAY_LEN(refused); i++)
            if (strcmp(kind, refused[i].kind) == 0)
                st = fail(p, loc_of(body), "%s", refused[i].what);
        if (st == MB_EINTERNAL)
            st = fail(p, loc_of(body), "unsupported expression (%s)", kind);
    }
    p->depth--;
    return st;
}

/* ---- the statement -------------------------------------------------------- */

static mb_status sort_list(parser *p, const json_t *list, mb_sql_sort **out, size_t *n)
{
    size_t count = json_array_size(list);
    mb_status st;
    *n = 0;
    if (!count)
        return MB_OK;
    if (!(*out = mb_sql_pool_alloc(&p->arena, count * sizeof **out)))
        return nomem(p);
    for (size_t i = 0; i < count; i++) {
        json_t *b;
        const char *k = node_kind(json_array_get(list, i), &b);
        const char *dir, *nulls;
        if (!k || strcmp(k, "SortBy") != 0)
            return fail(p, -1, "malformed ORDER BY");
        dir = str_of(b, "sortby_dir");
        nulls = str_of(b, "sortby_nulls");
        if (dir && strcmp(dir, "SORTBY_USING") == 0)
            return fail(p, loc_of(b), "ORDER BY ... USING is not supported");
        (*out)[i].desc = dir && strcmp(dir, "SORTBY_DESC") == 0;
        (*out)[i].nulls_first = !nulls || strcmp(nulls, "SORTBY_NULLS_DEFAULT") == 0 ? -1
                                : strcmp(nulls, "SORTBY_NULLS_FIRST") == 0;
        if ((st = expr(p, json_object_get(b, "node"), &(*out)[i].expr)) != MB_OK)
            return st;
        *n = i + 1;
    }
    return MB_OK;
}

/* LIMIT/OFFSET: a non-negative integer constant. */
static mb_status count_clause(parser *p, const json_t *node, const char *what, int64_t *out)
{
    mb_sql_node *n;
    mb_status st = expr(p, node, &n);
    char *end;
    long long v;
    if (st != MB_OK)
        return st;
    if (n->kind == MB_SQL_LITERAL && n->lit == MB_SQL_LIT_NULL) {
        *out = -1;
        return MB_OK;
    }
    if (n->kind != MB_SQL_LITERAL || n->lit != MB_SQL_LIT_INT || n->text[0] == '-')
        return fail(p, n->pos, "%s must be a non-negative integer constant", what);
    errno = 0;
    v = strtoll(n->text, &end, 10);
    if (errno || *end)
        return fail(p, n->pos, "%s is out of range", what);
    *out = v;
    return MB_OK;
}

static mb_status from_clause(parser *p, const json_t *from, long stmt_pos)
{
    json_t *b;
    const char *k;
    if (json_array_size(from) == 0)
        return fail(p, stmt_pos, "the query must read FROM input");
    if (json_array_size(from) > 1)
        return fail(p, loc_of(json_object_get(json_array_get(from, 1), "RangeVar")),
                    "joins are not supported (the query reads one table, input)");
    k = node_kind(json_array_get(from, 0), &b);
    if (!k)
        return fail(p, -1, "malformed FROM");
    if (strcmp(k, "JoinExpr") == 0)
        return fail(p, loc_of(json_object_get(json_object_get(b, "larg"), "RangeVar")),
                    "JOIN is not supported (the query reads one table, input)");
    if (strcmp(k, "RangeSubselect") == 0)
        return fail(p, stmt_pos, "subqueries in FROM are not supported");
    if (strcmp(k, "RangeFunction") == 0)
        return fail(p, stmt_pos, "table functions in FROM are not supported: the table is "
                                 "input, the file of the current work item");
    if (strcmp(k, "RangeVar") != 0)
        return fail(p, stmt_pos, "unsupported FROM item (%s)", k);
    {
        const char *rel = str_of(b, "relname"), *schema = str_of(b, "schemaname");
        json_t *alias = json_object_get(b, "alias");
        if (schema || !rel || strcmp(rel, "input") != 0)
            return fail(p, loc_of(b), "unknown table '%s%s%s': the table is input, the file "
                                      "of the current work item", schema ? schema : "",
                        schema ? "." : "", rel ? rel : "?");
        if (alias) {
            const char *an = str_of(alias, "aliasname");
            if (json_object_get(alias, "colnames"))
                return fail(p, loc_of(b), "column aliases in FROM are not supported");
            if (an && !(p->alias = mb_sql_pool_strndup(&p->arena, an, strlen(an))))
                return nomem(p);
        }
    }
    return MB_OK;
}

/* Refuses what a SELECT may carry that we do not run. */
static mb_status select_shape(parser *p, const json_t *s, long pos)
{
    const char *op = str_of(s, "op");
    if (op && strcmp(op, "SETOP_NONE") != 0)
        return fail(p, pos, "%s is not supported (one SELECT over input)",
                    strcmp(op, "SETOP_UNION") == 0 ? "UNION"
                    : strcmp(op, "SETOP_INTERSECT") == 0 ? "INTERSECT" : "EXCEPT");
    if (json_object_get(s, "withClause"))
        return fail(p, pos, "WITH (common table expressions) is not supported");
    if (json_object_get(s, "valuesLists"))
        return fail(p, pos, "VALUES is not supported");
    if (json_object_get(s, "intoClause"))
        return fail(p, pos, "SELECT INTO is not supported");
    if (json_object_get(s, "lockingClause"))
        return fail(p, pos, "FOR UPDATE/SHARE is not supported");
    if (json_object_get(s, "windowClause"))
        return fail(p, pos, "WINDOW is not supported");
    {
        const char *lo = str_of(s, "limitOption");
        if (lo && strcmp(lo, "LIMIT_OPTION_WITH_TIES") == 0)
            return fail(p, pos, "FETCH ... WITH TIES is not supported");
    }
    return MB_OK;
}

static mb_status targets(parser *p, mb_sql_query *q, const json_t *list)
{
    size_t n = json_array_size(list);
    mb_status st;
    if (!(q->targets = mb_sql_pool_alloc(&p->arena, (n ? n : 1) * sizeof *q->targets)))
        return nomem(p);
    for (size_t i = 0; i < n; i++) {
        json_t *b;
        const char *k = node_kind(json_array_get(list, i), &b), *name;
        if (!k || strcmp(k, "ResTarget") != 0)
            return fail(p, -1, "malformed select list");
        q->targets[i].pos = loc_of(b);
        if ((st = expr(p, json_object_get(b, "val"), &q->targets[i].expr)) != MB_OK)
            return st;
        if ((name = str_of(b, "name")) &&
            !(q->targets[i].alias = mb_sql_pool_strndup(&p->arena, name, strlen(name))))
            return nomem(p);
        q->ntargets = i + 1;
    }
    return MB_OK;
}

static mb_status group_list(parser *p, mb_sql_query *q, const json_t *list)
{
    size_t n = json_array_size(list);
    mb_status st;
    if (!n)
        return MB_OK;
    if (!(q->group = mb_sql_pool_alloc(&p->arena, n * sizeof *q->group)))
        return nomem(p);
    for (size_t i = 0; i < n; i++) {
        json_t *b;
        const char *k = node_kind(json_array_get(list, i), &b);
        if (k && strcmp(k, "GroupingSet") == 0)
            return fail(p, loc_of(b), "ROLLUP, CUBE and GROUPING SETS are not supported");
        if ((st = expr(p, json_array_get(list, i), &q->group[i])) != MB_OK)
            return st;
        q->ngroup = i + 1;
    }
    return MB_OK;
}

static mb_status select_stmt(parser *p, mb_sql_query *q, const json_t *s, long pos)
{
    json_t *v;
    mb_status st;

    if ((st = select_shape(p, s, pos)) != MB_OK ||
        (st = from_clause(p, json_object_get(s, "fromClause"), pos)) != MB_OK)
        return st;
    if ((v = json_object_get(s, "distinctClause"))) {
        if (json_array_size(v) != 1 || json_object_size(json_array_get(v, 0)) != 0)
            return fail(p, pos, "DISTINCT ON is not supported");
        q->distinct = true;
    }
    if ((st = targets(p, q, json_object_get(s, "targetList"))) != MB_OK)
        return st;
    if ((v = json_object_get(s, "whereClause")) && (st = expr(p, v, &q->where)) != MB_OK)
        return st;
    if ((st = group_list(p, q, json_object_get(s, "groupClause"))) != MB_OK)
        return st;
    if (json_is_true(json_object_get(s, "groupDistinct")))
        return fail(p, pos, "GROUP BY DISTINCT is not supported");
    if ((v = json_object_get(s, "havingClause")) && (st = expr(p, v, &q->having)) != MB_OK)
        return st;
    if ((st = sort_list(p, json_object_get(s, "sortClause"), &q->order, &q->norder)) != MB_OK)
        return st;
    if ((v = json_object_get(s, "limitCount")) &&
        (st = count_clause(p, v, "LIMIT", &q->limit)) != MB_OK)
        return st;
    if ((v = json_object_get(s, "limitOffset")) &&
        (st = count_clause(p, v, "OFFSET", &q->offset)) != MB_OK)
        return st;
    if (q->offset < 0)
        q->offset = 0;
    return MB_OK;
}

/* PostgreSQL counts the error position in characters (1-based); we count
 * bytes. The text is UTF-8 or taken as bytes. */
static long char_to_byte(const char *sql, int cursor)
{
    long i = 0;
    for (int c = 1; c < cursor && sql[i]; c++) {
        i++;
        while ((sql[i] & 0xC0) == 0x80)
            i++;
    }
    return i;
}

static const char *stmt_name(const char *kind)
{
    static const char *const names[][2] = {
        {"InsertStmt", "INSERT"}, {"UpdateStmt", "UPDATE"}, {"DeleteStmt", "DELETE"},
        {"CreateStmt", "CREATE TABLE"}, {"CreateTableAsStmt", "CREATE TABLE AS"},
        {"DropStmt", "DROP"}, {"CopyStmt", "COPY"}, {"ExplainStmt", "EXPLAIN (use --explain)"},
        {"VariableSetStmt", "SET"}, {"TransactionStmt", "a transaction statement"},
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(names); i++)
        if (strcmp(kind, names[i][0]) == 0)
            return names[i][1];
    return kind;
}

static mb_status statement(parser *p, mb_sql_query *q, const char *tree)
{
    json_error_t je;
    json_t *root = json_loads(tree, 0, &je), *stmts, *raw, *body;
    mb_status st;
    const char *kind;
    long pos;

    if (!root)
        return mb_err_set(p->err, MB_EINTERNAL, "%s: the parser's tree is not JSON: %s",
                          p->source, je.text);
    stmts = json_object_get(root, "stmts");
    if (json_array_size(stmts) != 1) {
        st = json_array_size(stmts)
                 ? fail(p, -1, "one statement only, not %zu", json_array_size(stmts))
                 : fail(p, -1, "the query is empty");
        json_decref(root);
        return st;
    }
    raw = json_array_get(stmts, 0);
    pos = json_is_integer(json_object_get(raw, "stmt_location"))
              ? (long)json_integer_value(json_object_get(raw, "stmt_location"))
              : 0;
    kind = node_kind(json_object_get(raw, "stmt"), &body);
    if (!kind)
        st = fail(p, pos, "malformed parse tree");
    else if (strcmp(kind, "SelectStmt") != 0)
        st = fail(p, pos, "%s is not supported: a query is one SELECT over input",
                  stmt_name(kind));
    else
        st = select_stmt(p, q, body, pos);
    json_decref(root);
    return st;
}

mb_status mb_sql_parse(const char *sql, const char *source, mb_sql_query **out, mb_err *err)
{
    parser p = {sql, source, MB_EUSAGE, NULL, err, 0, NULL};
    mb_sql_query *q;
    PgQueryParseResult r;
    mb_status st;
    size_t len = strlen(sql);

    *out = NULL;
    if (strncmp(source, "--", 2) != 0)        /* --sql, --agg: usage; a job file's: 65 */
        p.code = MB_EJOB;
    if (len > MAX_QUERY_BYTES)
        return fail(&p, -1, "the query is longer than %u bytes", MAX_QUERY_BYTES);
    /* libpg_query would pass invalid bytes into its JSON, which then does
     * not load */
    if (mb_utf8_valid_prefix((const unsigned char *)sql, len) != len)
        return fail(&p, (long)mb_utf8_valid_prefix((const unsigned char *)sql, len),
                    "the query is not valid UTF-8");
    if (!(q = mb_calloc(1, sizeof *q)))
        return nomem(&p);
    q->limit = -1;
    if (!(q->sql = mb_strdup(sql)) || !(q->source = mb_strdup(source))) {
        mb_sql_query_free(q);
        return nomem(&p);
    }
    p.sql = q->sql;
    r = pg_query_parse(sql);
    if (r.error) {
        long at = r.error->cursorpos > 0 ? char_to_byte(sql, r.error->cursorpos) : -1;
        st = fail(&p, at, "%s", r.error->message);
    } else {
        st = statement(&p, q, r.parse_tree);
    }
    pg_query_free_parse_result(r);
    q->arena = p.arena;
    if (st != MB_OK) {
        mb_sql_query_free(q);
        return st;
    }
    *out = q;
    return MB_OK;
}

void mb_sql_query_free(mb_sql_query *q)
{
    if (!q)
        return;
    mb_sql_pool_free(q->arena);
    free(q->sql);
    free(q->source);
    free(q);
}

/* ---- writing a tree back -------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int full;
} sbuf;

static void emit(sbuf *b, const char *s, size_t n)
{
    if (b->full || n >= b->cap - b->n) {
        b->full = 1;
        return;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void emits(sbuf *b, const char *s) { emit(b, s, strlen(s)); }

static void fmt_node(sbuf *b, const mb_sql_node *n);

static void fmt_args(sbuf *b, const mb_sql_node *n, size_t from, const char *sep)
{
    for (size_t i = from; i < n->nargs; i++) {
        if (i > from)
            emits(b, sep);
        fmt_node(b, n->args[i]);
    }
}

static void fmt_literal(sbuf *b, const mb_sql_node *n)
{
    static const char *const words[] = {"", "", "", "true", "false", "NULL"};
    if (n->lit != MB_SQL_LIT_STRING) {
        emits(b, n->lit <= MB_SQL_LIT_NUM ? n->text : words[n->lit]);
        return;
    }
    emits(b, "'");
    for (size_t i = 0; i < n->len; i++)
        emit(b, n->text[i] == '\'' ? "''" : n->text + i, n->text[i] == '\'' ? 2 : 1);
    emits(b, "'");
}

static void fmt_node(sbuf *b, const mb_sql_node *n)
{
    static const char *const ops[] = {"-", "+", " + ", " - ", " * ", " / ", " // ", " % ",
                                      " = ", " <> ", " < ", " <= ", " > ", " >= ", " AND ",
                                      " OR ", "NOT "};
    char tname[32];
    switch (n->kind) {
    case MB_SQL_LITERAL:
        fmt_literal(b, n);
        break;
    case MB_SQL_COLUMN:
        emits(b, n->name);
        break;
    case MB_SQL_STAR:
        emits(b, "*");
        break;
    case MB_SQL_OP:
        emits(b, "(");
        if (n->nargs == 1) {
            emits(b, ops[n->op]);
            fmt_node(b, n->args[0]);
        } else {
            fmt_args(b, n, 0, ops[n->op]);
        }
        emits(b, ")");
        break;
    case MB_SQL_IS_NULL:
    case MB_SQL_IS_BOOL:
        emits(b, "(");
        fmt_node(b, n->args[0]);
        emits(b, n->negated ? " IS NOT " : " IS ");
        emits(b, n->lit == MB_SQL_LIT_TRUE ? "TRUE" : n->lit == MB_SQL_LIT_FALSE ? "FALSE"
                  : n->kind == MB_SQL_IS_NULL ? "NULL" : "UNKNOWN");
        emits(b, ")");
        break;
    case MB_SQL_IN:
        emits(b, "(");
        fmt_node(b, n->args[0]);
        emits(b, n->negated ? " NOT IN (" : " IN (");
        fmt_args(b, n, 1, ", ");
        emits(b, "))");
        break;
    case MB_SQL_BETWEEN:
        emits(b, "(");
        fmt_node(b, n->args[0]);
        emits(b, n->negated ? " NOT BETWEEN " : " BETWEEN ");
        fmt_node(b, n->args[1]);
        emits(b, " AND ");
        fmt_node(b, n->args[2]);
        emits(b, ")");
        break;
    case MB_SQL_LIKE:
        emits(b, "(");
        fmt_node(b, n->args[0]);
        emits(b, n->negated ? " NOT" : "");
        emits(b, n->ilike ? " ILIKE " : " LIKE ");
        fmt_node(b, n->args[1]);
        if (n->nargs > 2) {
            emits(b, " ESCAPE ");
            fmt_node(b, n->args[2]);
        }
        emits(b, ")");
        break;
    case MB_SQL_CASE: {
        size_t i = 0, end = n->nargs - (n->has_else ? 1 : 0);
        emits(b, "CASE");
        if (n->has_operand) {
            emits(b, " ");
            fmt_node(b, n->args[i++]);
        }
        for (; i + 1 < end + 1 && i < end; i += 2) {
            emits(b, " WHEN ");
            fmt_node(b, n->args[i]);
            emits(b, " THEN ");
            fmt_node(b, n->args[i + 1]);
        }
        if (n->has_else) {
            emits(b, " ELSE ");
            fmt_node(b, n->args[n->nargs - 1]);
        }
        emits(b, " END");
        break;
    }
    case MB_SQL_CAST:
        emits(b, "CAST(");
        fmt_node(b, n->args[0]);
        emits(b, " AS ");
        (void)mb_sql_dtype_name(n->type, tname, sizeof tname);
        emits(b, tname);
        emits(b, ")");
        break;
    case MB_SQL_FUNC:
        if (strcmp(n->name, "||") == 0) {
            emits(b, "(");
            fmt_args(b, n, 0, " || ");
            emits(b, ")");
            break;
        }
        emits(b, n->name);
        emits(b, n->distinct ? "(DISTINCT " : "(");
        fmt_args(b, n, 0, ", ");
        for (size_t i = 0; i < n->norder; i++) {
            emits(b, i ? ", " : " ORDER BY ");
            fmt_node(b, n->order[i].expr);
            emits(b, n->order[i].desc ? " DESC" : "");
            if (n->order[i].nulls_first >= 0)
                emits(b, n->order[i].nulls_first ? " NULLS FIRST" : " NULLS LAST");
        }
        emits(b, ")");
        if (n->filter) {
            emits(b, " FILTER (WHERE ");
            fmt_node(b, n->filter);
            emits(b, ")");
        }
        break;
    }
}

mb_status mb_sql_node_format(const mb_sql_node *n, char *out, size_t cap)
{
    sbuf b = {out, 0, cap, 0};
    if (!cap)
        return MB_ELIMIT;
    out[0] = '\0';
    fmt_node(&b, n);
    if (b.full) {
        out[0] = '\0';
        return MB_ELIMIT;
    }
    return MB_OK;
}
