using System.Diagnostics;
using Shouldly;

namespace Xapi.Cqrs.Cli.Tests;

/// <summary>ops/pack writes a tool package that `dotnet tool install` takes from the local folder alone (offline), and the installed xapi runs.</summary>
public sealed class PackTests : IDisposable
{
    private readonly string work = Path.Combine(Path.GetTempPath(), "xapi-pack-test-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(work))
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public async Task Ops_pack_output_installs_into_a_tool_path_and_xapi_help_runs()
    {
        var packages = Path.Combine(work, "packages");
        var version = $"0.0.1-test.{DateTime.UtcNow:yyyyMMddHHmmss}.{Guid.NewGuid().ToString("N")[..8]}"; // never in the NuGet cache already

        var pack = await Run(Path.Combine(RepoRoot(), "ops", "pack"), [packages], new() { ["XAPI_CLI_VERSION"] = version });

        pack.ExitCode.ShouldBe(0, pack.Output);
        File.Exists(Path.Combine(packages, $"Xapi.Cqrs.Cli.{version}.nupkg")).ShouldBeTrue(pack.Output);
        var install = pack.Output.TrimEnd().Split('\n').Last();
        install.ShouldBe($"dotnet tool install --global --add-source {packages} Xapi.Cqrs.Cli --version {version}");

        // Only the local folder as a source: the install must not need any registry.
        var config = Path.Combine(work, "nuget.config");
        await File.WriteAllTextAsync(config, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration><packageSources><clear /><add key="local" value="{packages}" /></packageSources></configuration>
            """, TestContext.Current.CancellationToken);
        var tools = Path.Combine(work, "tools");
        var installed = await Run("dotnet", ["tool", "install", "--tool-path", tools, "--configfile", config, "Xapi.Cqrs.Cli", "--version", version], []);
        installed.ExitCode.ShouldBe(0, installed.Output);

        var help = await Run(Path.Combine(tools, "xapi"), ["--help"], []);
        help.ExitCode.ShouldBe(0, help.Output);
        help.Output.ShouldContain("xapi: the command line of the Xapi.Cqrs VM lifecycle service");
        help.Output.ShouldContain("Exit codes:");
        help.Output.ShouldContain("vm-history <vm>");
        var noToken = await Run(Path.Combine(tools, "xapi"), ["vm-list", "--server", "http://127.0.0.1:9"], new() { ["XAPI_TOKEN"] = "" });
        noToken.ExitCode.ShouldBe(2, noToken.Output);
    }

    private sealed record Ran(int ExitCode, string Output);

    /// <summary>Runs a program to its end (bounded: 5 minutes), stdout and stderr together.</summary>
    private static async Task<Ran> Run(string program, string[] args, Dictionary<string, string> environment)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }
        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        bound.CancelAfter(TimeSpan.FromMinutes(5));
        var output = process.StandardOutput.ReadToEndAsync(bound.Token);
        var error = process.StandardError.ReadToEndAsync(bound.Token);
        try
        {
            await process.WaitForExitAsync(bound.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return new Ran(process.ExitCode, await output + await error);
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Xapi.Cqrs.sln")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException("no Xapi.Cqrs.sln above " + AppContext.BaseDirectory);
    }
}
