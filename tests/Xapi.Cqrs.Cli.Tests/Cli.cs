namespace Xapi.Cqrs.Cli.Tests;

/// <summary>What one run of the real command tree printed and returned.</summary>
public sealed record CliRun(int ExitCode, string Out, string Error);

/// <summary>Runs <c>xapi</c> in-process with captured output and an environment of the test's choosing.</summary>
public static class Cli
{
    public static Task<CliRun> Run(params string[] args) => RunWithEnvironment(new Dictionary<string, string>(), args);

    public static Task<CliRun> Run(bool interactive, params string[] args) => Run(new Dictionary<string, string>(), interactive, args);

    public static Task<CliRun> RunWithEnvironment(IReadOnlyDictionary<string, string> environment, params string[] args) =>
        Run(environment, interactive: false, args);

    /// <summary>A run the test ends itself (Ctrl+C, as it were) by cancelling <paramref name="ct"/>.</summary>
    public static Task<CliRun> RunUntil(CancellationToken ct, params string[] args) => Run(new Dictionary<string, string>(), interactive: false, args, ct);

    private static async Task<CliRun> Run(IReadOnlyDictionary<string, string> environment, bool interactive, string[] args, CancellationToken? ct = null)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var io = new CliIo(output, error, name => environment.GetValueOrDefault(name), Interactive: interactive);
        var exitCode = await Program.RunAsync(args, io, ct ?? TestContext.Current.CancellationToken);
        return new CliRun(exitCode, output.ToString(), error.ToString());
    }

    /// <summary>A port on 127.0.0.1 that nothing listens on: bound once by us, then released.</summary>
    public static int ClosedPort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
