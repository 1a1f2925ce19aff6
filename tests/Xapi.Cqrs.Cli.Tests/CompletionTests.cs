using System.Diagnostics;
using Shouldly;

namespace Xapi.Cqrs.Cli.Tests;

/// <summary>Shell completion: System.CommandLine's [suggest] directive, names from the real server, and the bash glue.</summary>
public sealed class CompletionTests(XapiServer server) : IClassFixture<XapiServer>
{
    [Fact]
    public async Task Suggest_directive_completes_a_verb()
    {
        var run = await Cli.Run("[suggest:10]", "xapi vm-st");

        run.ExitCode.ShouldBe(0, run.Error);
        Lines(run.Out).ShouldBe(["vm-start"]);
    }

    [Fact]
    public async Task Suggest_directive_completes_vm_names_from_the_server_of_XAPI_SERVER()
    {
        var env = new Dictionary<string, string> { ["XAPI_SERVER"] = server.Url, ["XAPI_TOKEN"] = server.AdminToken };

        var run = await Cli.RunWithEnvironment(env, "[suggest:16]", "xapi vm-start we");

        run.ExitCode.ShouldBe(0, run.Error);
        Lines(run.Out).ShouldBe(["web01", "web02"]);
    }

    [Fact]
    public async Task Suggest_directive_offers_no_names_when_no_server_answers()
    {
        var env = new Dictionary<string, string> { ["XAPI_SERVER"] = $"http://127.0.0.1:{Cli.ClosedPort()}", ["XAPI_TOKEN"] = "t" };

        var run = await Cli.RunWithEnvironment(env, "[suggest:16]", "xapi vm-start we");

        run.ExitCode.ShouldBe(0, run.Error);
        Lines(run.Out).ShouldBeEmpty();
    }

    [Fact]
    public async Task Completion_bash_prints_a_script_that_bash_uses_to_complete_verbs_and_names()
    {
        var script = await Cli.Run("completion", "bash");
        script.ExitCode.ShouldBe(0, script.Error);
        script.Out.ShouldContain("complete -o default -F _xapi_complete xapi");

        // bash completes "vm-start we" as it would on Tab, calling the built xapi by its path.
        var xapi = Path.Combine(AppContext.BaseDirectory, "xapi");
        var file = Path.Combine(Path.GetTempPath(), $"xapi-completion-{Guid.NewGuid():N}.bash");
        await File.WriteAllTextAsync(file, script.Out, TestContext.Current.CancellationToken);
        try
        {
            var line = $"{xapi} vm-start we";
            var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add($"""source "{file}"; COMP_LINE='{line}'; COMP_POINT={line.Length}; COMP_WORDS=('{xapi}' vm-start we); COMP_CWORD=2; _xapi_complete; printf '%s\n' "${"{"}COMPREPLY[@]{"}"}" """);
            start.Environment["XAPI_SERVER"] = server.Url;
            start.Environment["XAPI_TOKEN"] = server.AdminToken;
            using var bash = Process.Start(start)!;
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            bound.CancelAfter(TimeSpan.FromMinutes(1));
            var output = await bash.StandardOutput.ReadToEndAsync(bound.Token);
            var error = await bash.StandardError.ReadToEndAsync(bound.Token);
            await bash.WaitForExitAsync(bound.Token);

            bash.ExitCode.ShouldBe(0, error);
            Lines(output).ShouldBe(["web01", "web02"], error);
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
