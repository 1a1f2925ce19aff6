using Shouldly;
using static Xapi.Cqrs.Cli.Tests.ApiStub;

namespace Xapi.Cqrs.Cli.Tests;

public sealed class ErrorTests(ApiStub api) : IClassFixture<ApiStub>
{
    [Fact]
    public async Task Unreachable_server_exits_3_with_the_url_and_reason()
    {
        var port = Cli.ClosedPort();

        var run = await Cli.Run("host-list", "--server", $"http://127.0.0.1:{port}", "--token", AdminToken);

        run.ExitCode.ShouldBe(3);
        run.Error.ShouldStartWith($"error: cannot reach the Xapi.Cqrs server at http://127.0.0.1:{port}: ");
        run.Error.ShouldContain("refused");
        NoStackTrace(run);
    }

    [Fact]
    public async Task Missing_token_exits_2_before_calling_the_server()
    {
        var before = api.Requests.Count;

        var run = await Cli.Run("host-list", "--server", api.Url);

        run.ExitCode.ShouldBe(2);
        run.Error.ShouldContain("no token given");
        run.Error.ShouldContain("XAPI_TOKEN");
        api.Requests.Count.ShouldBe(before);
    }

    [Fact]
    public async Task Wrong_token_exits_4_with_the_401_message()
    {
        var run = await Cli.Run("vm-list", "--server", api.Url, "--token", "not-a-token");

        run.ExitCode.ShouldBe(4);
        run.Error.Trim().ShouldBe("error: the server refused the token (401): set --token or XAPI_TOKEN");
    }

    [Fact]
    public async Task Read_only_token_start_exits_4_with_rbac_code_and_params()
    {
        var run = await Cli.Run("vm-start", HaltedVm, "--server", api.Url, "--token", ReadOnlyToken);

        run.ExitCode.ShouldBe(4);
        run.Error.ShouldContain("RBAC_PERMISSION_DENIED (HTTP 403)");
        run.Error.ShouldContain("""params: ["vm.start", "read-only"]""");
    }

    [Fact]
    public async Task Running_vm_start_exits_1_with_bad_power_state_and_params()
    {
        var run = await Cli.Run("vm-start", RunningVm, "--server", api.Url, "--token", AdminToken);

        run.ExitCode.ShouldBe(1);
        run.Error.ShouldContain("VM_BAD_POWER_STATE (HTTP 409)");
        run.Error.ShouldContain($"""params: ["{RunningVm}", "halted", "running"]""");
        run.Out.ShouldBeEmpty();
        NoStackTrace(run);
    }

    [Fact]
    public async Task Invalid_filter_exits_1_and_prints_the_validation_errors()
    {
        var run = await Cli.Run("vm-list", "--power-state", "Bogus", "--server", api.Url, "--token", AdminToken);

        run.ExitCode.ShouldBe(1);
        run.Error.ShouldContain("INVALID_VALUE (HTTP 400)");
        run.Error.ShouldContain("""params: ["powerState", "Bogus"]""");
        run.Error.ShouldContain("errors:");
        run.Error.ShouldContain("powerState: 'Power State' must be one of Halted, Paused, Running, Suspended.");
    }

    [Fact]
    public async Task Unknown_vm_uuid_exits_1_with_handle_invalid()
    {
        const string unknown = "01234567-89ab-cdef-0123-456789abcdef";

        var run = await Cli.Run("vm-show", unknown, "--server", api.Url, "--token", AdminToken);

        run.ExitCode.ShouldBe(1);
        run.Error.ShouldContain("HANDLE_INVALID (HTTP 404)");
        run.Error.ShouldContain($"""params: ["VM", "{unknown}"]""");
    }

    [Fact]
    public async Task Non_problem_error_exits_1_with_status_and_body()
    {
        var run = await Cli.Run("vm-show", BrokenVm, "--server", api.Url, "--token", AdminToken);

        run.ExitCode.ShouldBe(1);
        run.Error.Trim().ShouldBe("error: the server answered 502 Bad Gateway: upstream down");
    }

    [Theory]
    [InlineData("vm-history", "x", "--at", "yesterday")]
    [InlineData("vm-start")]
    [InlineData("no-such-command")]
    public async Task Bad_usage_exits_2_without_a_stack_trace(params string[] args)
    {
        var run = await Cli.Run([.. args, "--server", api.Url, "--token", AdminToken]);

        run.ExitCode.ShouldBe(2);
        run.Error.ShouldStartWith("error: ");
        NoStackTrace(run);
    }

    [Fact]
    public async Task Server_that_is_not_an_http_url_exits_2()
    {
        var run = await Cli.Run("host-list", "--server", "127.0.0.1:5080", "--token", AdminToken);

        run.ExitCode.ShouldBe(2);
        run.Error.ShouldContain("must be an http(s) URL");
    }

    private static void NoStackTrace(CliRun run)
    {
        run.Error.ShouldNotContain("   at ");
        run.Error.ShouldNotContain("Exception");
    }
}
