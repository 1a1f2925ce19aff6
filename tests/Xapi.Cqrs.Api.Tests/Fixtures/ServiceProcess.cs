using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Xapi.Cqrs.Testing.Store;

namespace Xapi.Cqrs.Api.Tests.Fixtures;

/// <summary>
/// The service as its users run it: a real process (the built Xapi.Cqrs.Api.dll under <c>dotnet</c>) on 127.0.0.1, on the
/// test PostgreSQL in a schema of its own, with a data directory that outlives the process — so a test can kill it
/// with SIGKILL at any moment and start it again on the same state. <see cref="NodeOf"/> makes another node of the same
/// deployment (same schema, data directory and admin token, its own port), as several service nodes share one database.
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> output = new();
    private Process? process;

    public ServiceProcess(string owner, params string[] settings)
    {
        Schema = TestDatabase.NewSchema(owner);
        Settings = settings;
        Port = FreePort();
        AdminToken = "admin-" + Guid.NewGuid().ToString("N");
        DataDir = Path.Combine(Path.GetTempPath(), "xapi-proc-" + Guid.NewGuid().ToString("N"));
        OwnsDataDir = true;
    }

    private ServiceProcess(ServiceProcess first, string[] settings)
    {
        Schema = first.Schema;
        Settings = settings;
        Port = FreePort();
        AdminToken = first.AdminToken;
        DataDir = first.DataDir;
        OwnsDataDir = false; // the first node's: it deletes it
    }

    /// <summary>Another node of <paramref name="first"/>'s deployment: same schema, data directory and admin token, another port; its node name is its port.</summary>
    public static ServiceProcess NodeOf(ServiceProcess first, params string[] settings) => new(first, settings.Length > 0 ? settings : first.Settings);

    public string AdminToken { get; }

    public string Schema { get; }

    public string DataDir { get; }

    public bool OwnsDataDir { get; }

    public int Port { get; }

    /// <summary>The node name it runs under (Xapi:NodeName).</summary>
    public string NodeName => $"node-{Port}";

    public int? Pid => process?.Id;

    /// <summary>The last lines the process wrote (stdout and stderr), for a failing test's message.</summary>
    public string Output => string.Join('\n', output.TakeLast(60));

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
                     $"--Xapi:Schema={Schema}", $"--Xapi:AdminToken={AdminToken}", $"--Xapi:DataDir={DataDir}", $"--Xapi:NodeName={NodeName}", "--Logging:LogLevel:Default=Warning",
                     "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information", .. Settings])
        {
            start.ArgumentList.Add(arg);
        }

        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process = Process.Start(start) ?? throw new InvalidOperationException("could not start the service");
        var exited = process.WaitForExitAsync(ct);
        process.OutputDataReceived += (_, e) =>
        {
            Keep(e.Data);
            if (e.Data?.Contains("Application started", StringComparison.Ordinal) == true)
            {
                started.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
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
                throw new InvalidOperationException($"the service exited with {process.ExitCode} before it was healthy\n{Output}");
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
                throw new TimeoutException($"the service did not become healthy within 90 s\n{Output}");
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

    /// <summary>Polls GET /api/admin/daemon until this node runs the whole daemon (leader: true), failing past the deadline; answers that body.</summary>
    public async Task<System.Text.Json.JsonElement> UntilDaemonLeaderAsync(TimeSpan within, CancellationToken ct)
    {
        using var client = Client();
        var until = DateTime.UtcNow + within;
        while (true)
        {
            var state = await client.GetJson("/api/admin/daemon");
            if (state.GetProperty("leader").GetBoolean())
            {
                return state;
            }

            if (DateTime.UtcNow > until)
            {
                throw new TimeoutException($"{NodeName} did not run the daemon within {within}: {state.GetRawText()}\n{Output}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), ct); // polling the API, not waiting for time to pass
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        if (OwnsDataDir && Directory.Exists(DataDir))
        {
            Directory.Delete(DataDir, recursive: true);
        }
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        output.Enqueue(line);
        while (output.Count > 300)
        {
            output.TryDequeue(out _);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
