using Shouldly;
using static Xapi.Cqrs.Cli.Tests.ApiStub;

namespace Xapi.Cqrs.Cli.Tests;

public sealed class EnvironmentTests(ApiStub api) : IClassFixture<ApiStub>
{
    [Fact]
    public async Task Server_and_token_come_from_XAPI_SERVER_and_XAPI_TOKEN()
    {
        var env = new Dictionary<string, string> { ["XAPI_SERVER"] = api.Url, ["XAPI_TOKEN"] = AdminToken };

        var run = await Cli.RunWithEnvironment(env, "host-list");

        run.ExitCode.ShouldBe(0, run.Error);
        run.Out.ShouldContain(HostA);
    }

    [Fact]
    public async Task Token_from_XAPI_TOKEN_is_the_one_sent()
    {
        var env = new Dictionary<string, string> { ["XAPI_SERVER"] = api.Url, ["XAPI_TOKEN"] = ReadOnlyToken };

        var run = await Cli.RunWithEnvironment(env, "vm-start", HaltedVm);

        run.ExitCode.ShouldBe(4); // the read-only token reached the server and was refused the start
        run.Error.ShouldContain("RBAC_PERMISSION_DENIED");
    }

    [Fact]
    public async Task Options_win_over_the_environment()
    {
        var env = new Dictionary<string, string>
        {
            ["XAPI_SERVER"] = $"http://127.0.0.1:{Cli.ClosedPort()}",
            ["XAPI_TOKEN"] = "wrong",
        };

        var run = await Cli.RunWithEnvironment(env, "vm-list", "--server", api.Url, "--token", AdminToken);

        run.ExitCode.ShouldBe(0, run.Error);
        run.Out.ShouldContain(RunningVm);
    }

    [Fact]
    public async Task Unreachable_server_from_XAPI_SERVER_is_named_in_the_message()
    {
        var url = $"http://127.0.0.1:{Cli.ClosedPort()}";
        var env = new Dictionary<string, string> { ["XAPI_SERVER"] = url, ["XAPI_TOKEN"] = AdminToken };

        var run = await Cli.RunWithEnvironment(env, "host-list");

        run.ExitCode.ShouldBe(3);
        run.Error.ShouldStartWith($"error: cannot reach the Xapi.Cqrs server at {url}: ");
    }
}
