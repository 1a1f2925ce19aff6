using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Xapi.Cqrs.Testing.Store;

namespace Xapi.Cqrs.Api.Tests.Fixtures;

/// <summary>
/// The service as its users run it: a real process (the built Xapi.Cqrs.Api.dll under <c>dotnet</c>) on 127.0.0.1, on the
/// test PostgreSQL in a schema of its own, with a data directory that outlives the process — so a test can kill it
/// with SIGKILL at any moment and start it again on the same state.
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private Process? process;

    public ServiceProcess(string owner, params string[] settings)
    {
        Schema = TestDatabase.NewSchema(owner);
        Settings = settings;
        Port = FreePort();
    }

    public string AdminToken { get; } = "admin-" + Guid.NewGuid().ToString("N");

    public string Schema { get; }

    public string DataDir { get; } = Path.Combine(Path.GetTempPath(), "xapi-proc-" + Guid.NewGuid().ToString("N"));

    public int Port { get; }

    public Uri BaseAddress => new($"http://127.0.0.1:{Port}");

    private string[] Settings { get; }

    /// <summary>The built service next to this test build (same configuration: Release under ops/test).</summary>
    internal static string ServiceDll()
    {
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name; // …/bin/<Configuration>/net10.0/
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Xapi.Cqrs.sln")))
        {
            dir = dir.Parent;
        }

        var dll = Path.Combine(dir?.FullName ?? throw new InvalidOperationException("the repository root (Xapi.Cqrs.sln) is not above the test build"),
            "src", "Xapi.Cqrs.Api", "bin", configuration, "net10.0", "Xapi.Cqrs.Api.dll");
        return File.Exists(dll) ? dll : throw new InvalidOperationException($"{dll} is not built: build the solution first (ops/test does)");
    }

    /// <summary>Starts the process and waits until /health answers 200.</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in (string[])[ServiceDll(), $"--urls=http://127.0.0.1:{Port}", $"--ConnectionStrings:EventStore={TestDatabase.ConnectionString}",
                     $"--Xapi:Schema={Schema}", $"--Xapi:AdminToken={AdminToken}", $"--Xapi:DataDir={DataDir}", "--Logging:LogLevel:Default=Warning",
                     "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information", .. Settings])
        {
            start.ArgumentList.Add(arg);
        }

        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process = Process.Start(start) ?? throw new InvalidOperationException("could not start the service");
        var exited = process.WaitForExitAsync(ct);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data?.Contains("Application started", StringComparison.Ordinal) == true)
            {
                started.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        // Hosted services have started once the host logs "Application started"; /health then answers once projections run.
        await Task.WhenAny(started.Task, exited).WaitAsync(TimeSpan.FromSeconds(90), ct);
        using var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"the service exited with {process.ExitCode} before it was healthy");
            }

            try
            {
                if ((await client.GetAsync("/health", ct)).StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested)
            {
                // slow to answer
            }

            if (DateTime.UtcNow > until)
            {
                throw new TimeoutException("the service did not become healthy within 90 s");
            }

            await Task.WhenAny(exited, Task.Delay(TimeSpan.FromMilliseconds(100), ct)); // projections starting: look again
        }
    }

    /// <summary>SIGKILL: the process dies at once, whatever it was doing.</summary>
    public async Task KillAsync()
    {
        if (process is { HasExited: false })
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        process?.Dispose();
        process = null;
    }

    public HttpClient Client() => new()
    {
        BaseAddress = BaseAddress,
        Timeout = TimeSpan.FromSeconds(60),
        DefaultRequestHeaders = { Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", AdminToken) },
    };

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        if (Directory.Exists(DataDir))
        {
            Directory.Delete(DataDir, recursive: true);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
