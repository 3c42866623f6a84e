/*
 * Unit tests: parsing of --vsock-port and --vsock-listen arguments.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "devices/vsock/vsock.h"
#include "tests/helpers/test_run.h"

START_TEST(port_unix)
{
	struct vsock_port_rule r;
	const char *why = NULL;
	const struct sockaddr_un *sun = (const struct sockaddr_un *)&r.to.addr;

	ck_assert_int_eq(vsock_parse_port_rule("5000=unix:/tmp/a b", &r, &why),
			 0);
	ck_assert_uint_eq(r.port, 5000);
	ck_assert_int_eq(sun->sun_family, AF_UNIX);
	ck_assert_str_eq(sun->sun_path, "/tmp/a b");
	ck_assert_uint_eq(r.to.addrlen,
			  offsetof(struct sockaddr_un, sun_path) + 9);
}
END_TEST

START_TEST(port_tcp)
{
	struct vsock_port_rule r;
	const char *why = NULL;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&r.to.addr;
	const struct sockaddr_in6 *sin6 =
		(const struct sockaddr_in6 *)&r.to.addr;
	struct in6_addr lo6 = IN6ADDR_LOOPBACK_INIT;

	ck_assert_int_eq(vsock_parse_port_rule("4294967295=tcp:127.0.0.1:8080",
					       &r, &why),
			 0);
	ck_assert_uint_eq(r.port, 4294967295u);
	ck_assert_int_eq(sin->sin_family, AF_INET);
	ck_assert_uint_eq(ntohs(sin->sin_port), 8080);
	ck_assert_uint_eq(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);

	ck_assert_int_eq(vsock_parse_port_rule("7=tcp:[::1]:22", &r, &why), 0);
	ck_assert_int_eq(sin6->sin6_family, AF_INET6);
	ck_assert_uint_eq(ntohs(sin6->sin6_port), 22);
	ck_assert(!memcmp(&sin6->sin6_addr, &lo6, sizeof(lo6)));
}
END_TEST

static const char *const bad_ports[] = {
	"",
	"5000",
	"=unix:/x",
	"x=unix:/x",
	"-1=unix:/x",
	"4294967296=unix:/x",
	"5=unix:",
	"5=udp:1.2.3.4:5",
	"5=tcp:1.2.3.4",
	"5=tcp:1.2.3.4:0",
	"5=tcp:1.2.3.4:65536",
	"5=tcp::80",
	"5=tcp:[::1:80",
	"5=tcp:1.2.3.4:8x",
	/* one string, longer than sun_path */
	("5=unix:/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
};

START_TEST(port_bad)
{
	struct vsock_port_rule r;
	const char *why = NULL;

	ck_assert_int_ne(vsock_parse_port_rule(bad_ports[_i], &r, &why), 0);
	ck_assert_ptr_nonnull(why);
}
END_TEST

START_TEST(listen_ok)
{
	struct vsock_listen_rule r;
	const char *why = NULL;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&r.at.addr;

	ck_assert_int_eq(vsock_parse_listen_rule("tcp:127.0.0.1:9000=52", &r,
						 &why),
			 0);
	ck_assert_uint_eq(r.guest_port, 52);
	ck_assert_int_eq(sin->sin_family, AF_INET);
	ck_assert_uint_eq(ntohs(sin->sin_port), 9000);
	ck_assert_int_eq(vsock_parse_listen_rule("tcp:0.0.0.0:1=4294967295",
						 &r, &why),
			 0);
	ck_assert_uint_eq(r.guest_port, 4294967295u);
}
END_TEST

static const char *const bad_listens[] = {
	"",
	"tcp:127.0.0.1:9000",
	"unix:/x=5",
	"tcp:127.0.0.1=5",
	"tcp:127.0.0.1:9000=",
	"tcp:127.0.0.1:9000=x",
	"tcp:127.0.0.1:9000=4294967296",
	"tcp:=5",
};

START_TEST(listen_bad)
{
	struct vsock_listen_rule r;
	const char *why = NULL;

	ck_assert_int_ne(vsock_parse_listen_rule(bad_listens[_i], &r, &why),
			 0);
	ck_assert_ptr_nonnull(why);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("vsock_rules");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, port_unix);
	tcase_add_test(tc, port_tcp);
	tcase_add_loop_test(tc, port_bad, 0,
			    sizeof(bad_ports) / sizeof(bad_ports[0]));
	tcase_add_test(tc, listen_ok);
	tcase_add_loop_test(tc, listen_bad, 0,
			    sizeof(bad_listens) / sizeof(bad_listens[0]));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
