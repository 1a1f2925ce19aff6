using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Xapi.Cqrs.Testing.Store;

namespace Xapi.Cqrs.Api.Tests.Fixtures;

/// <summary>
/// One external host's agent as a real process (the built Xapi.Cqrs.HostAgent.dll under <c>dotnet</c>), on the same store,
/// schema and data directory as a <see cref="ServiceProcess"/>; its output is kept for a failing test's message, and it is
/// killed by its pid (SIGKILL) when the test ends.
/// </summary>
public sealed class AgentProcess(ServiceProcess service, Guid hostId, params string[] settings) : IAsyncDisposable
{
    /// <summary>Quick liveness for tests, for the service and its agents alike: a heartbeat every 0.5 s, not live 3 s after the last.</summary>
    public static readonly string[] QuickLiveness = ["--Xapi:Agent:Heartbeat=00:00:00.500", "--Xapi:Agent:LiveTimeout=00:00:03"];

    private readonly ConcurrentQueue<string> output = new();
    private Process? process;

    public Guid HostId => hostId;

    public int? Pid => process?.Id;

    /// <summary>The last lines the process wrote (stdout and stderr).</summary>
    public string Output => string.Join('\n', output.TakeLast(80));

    internal static string AgentDll()
    {
        var service = ServiceProcess.ServiceDll(); // …/src/Xapi.Cqrs.Api/bin/<Configuration>/net10.0/Xapi.Cqrs.Api.dll
        var build = new FileInfo(service).Directory!;
        var src = build.Parent!.Parent!.Parent!.Parent!.FullName;
        var dll = Path.Combine(src, "Xapi.Cqrs.HostAgent", "bin", build.Parent.Name, "net10.0", "Xapi.Cqrs.HostAgent.dll");
        return File.Exists(dll) ? dll : throw new InvalidOperationException($"{dll} is not built: build the solution first (ops/test does)");
    }

    /// <summary>Starts the process; it is running once the host is live (the caller polls the API for that).</summary>
    public void Start()
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in (string[])[AgentDll(), $"--Xapi:HostId={hostId}", $"--ConnectionStrings:EventStore={TestDatabase.ConnectionString}",
                     $"--Xapi:Schema={service.Schema}", $"--Xapi:DataDir={service.DataDir}", "--Logging:LogLevel:Default=Warning",
                     "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information", .. settings])
        {
            start.ArgumentList.Add(arg);
        }

        process = Process.Start(start) ?? throw new InvalidOperationException("could not start the host agent");
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public bool HasExited => process?.HasExited ?? true;

    /// <summary>SIGKILL: the agent dies at once, whatever it was doing.</summary>
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

    public async ValueTask DisposeAsync() => await KillAsync();

    /// <summary>Polls the host's record (through <paramref name="client"/>, any node) until live is <paramref name="live"/>, failing past the deadline.</summary>
    public async Task UntilLiveAsync(HttpClient client, bool live, TimeSpan within, CancellationToken ct)
    {
        var until = DateTime.UtcNow + within;
        while (true)
        {
            var record = await client.GetFromJsonAsync<JsonElement>($"/api/hosts/{hostId}", ct);
            if (record.GetProperty("live").GetBoolean() == live)
            {
                return;
            }

            if (DateTime.UtcNow > until)
            {
                throw new TimeoutException($"host {hostId} was not live: {live} within {within}\n{Output}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), ct); // polling the API, not waiting for time to pass
        }
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        output.Enqueue(line);
        while (output.Count > 400)
        {
            output.TryDequeue(out _);
        }
    }
}
