using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Npgsql;

namespace Xapi.Cqrs.Bench;

/// <summary>
/// The service under test: a child process of its own (fresh schema, data dir and log file under the work
/// dir, stdout and stderr into the log), or with --url the running service the user named.
/// </summary>
internal sealed class Service : IAsyncDisposable
{
    private static readonly TimeSpan HealthTimeout = TimeSpan.FromMinutes(2);

    private readonly Process? process;
    private readonly NpgsqlDataSource? database;

    private Service(Api api, string description, Process? process, NpgsqlDataSource? database, string? schema, string? logPath)
    {
        Api = api;
        Description = description;
        this.process = process;
        this.database = database;
        Events = database is null || schema is null ? null : new EventLog(database, schema);
        LogPath = logPath;
    }

    public Api Api { get; }
    public string Description { get; }

    /// <summary>The schema's event table, to count events and commits (null: the database is not known).</summary>
    public EventLog? Events { get; }

    /// <summary>Where the child's stdout and stderr go (null with --url).</summary>
    public string? LogPath { get; }

    /// <summary>The service's process id when this run started it.</summary>
    public int? Pid => process?.Id;

    public long? LogBytes() => LogPath is null ? null : new FileInfo(LogPath).Length;

    /// <summary>Ends the run if this run's child has died (its answers would be connection errors, not the service's).</summary>
    public void EnsureRunning()
    {
        if (process is { HasExited: true })
        {
            throw new BenchException($"the service exited with code {process.ExitCode} during the run; last lines of {LogPath}:\n{Tail(LogPath!)}");
        }
    }

    /// <summary>A fresh service process on schema <paramref name="schema"/>, or the one at --url.</summary>
    public static async Task<Service> OpenAsync(Options options, string schema, HttpClient http, CancellationToken ct)
    {
        if (options.Url is { } url)
        {
            var database = options.ServiceConnectionString is { } cs ? NpgsqlDataSource.Create(cs) : null;
            return new Service(new Api(http, url, options.Token!), $"service at {url}", null, database, options.ServiceSchema, null);
        }

        var dir = Path.Combine(options.WorkDir, schema);
        Directory.CreateDirectory(dir);
        var log = Path.Combine(dir, "service.log");
        var baseUri = new Uri($"http://127.0.0.1:{FreePort()}/");
        var token = "bench_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        var dll = Path.GetFullPath(options.ServiceDll!);

        // sh only redirects: exec replaces it, so the child's pid is the service's own.
        var start = new ProcessStartInfo("/bin/sh")
        {
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        foreach (var arg in new[]
                 {
                     "-c", "log=$1; shift; exec \"$@\" </dev/null >\"$log\" 2>&1", "sh", log,
                     "dotnet", dll, "--urls", baseUri.ToString().TrimEnd('/'),
                     $"--ConnectionStrings:EventStore={options.ConnectionString}", $"--Xapi:Schema={schema}",
                     $"--Xapi:DataDir={Path.Combine(dir, "data")}", $"--Xapi:AdminToken={token}", "--Xapi:Seed=42",
                 })
        {
            start.ArgumentList.Add(arg);
        }

        Program.Progress($"starting the service on {baseUri} (schema {schema}, log {log})");
        var child = Process.Start(start) ?? throw new BenchException("could not start /bin/sh for the service");
        var service = new Service(new Api(http, baseUri, token), $"pid {child.Id}, schema {schema}", child,
            NpgsqlDataSource.Create(options.ConnectionString), schema, log);
        try
        {
            await service.WaitUntilHealthyAsync(http, ct);
            return service;
        }
        catch
        {
            await service.DisposeAsync();
            throw;
        }
    }

    /// <summary>Kills the child (if this run started one) and waits for it to exit.</summary>
    public async ValueTask DisposeAsync()
    {
        if (process is not null)
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await process.WaitForExitAsync(wait.Token);
            process.Dispose();
        }

        if (database is not null)
        {
            await database.DisposeAsync();
        }
    }

    private async Task WaitUntilHealthyAsync(HttpClient http, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var health = new Uri(Api.BaseUri, "/health");
        while (Stopwatch.GetElapsedTime(started) < HealthTimeout)
        {
            if (process!.HasExited)
            {
                throw new BenchException($"the service exited with code {process.ExitCode} before GET /health answered 200; " +
                    $"last lines of {LogPath}:\n{Tail(LogPath!)}");
            }

            try
            {
                using var probe = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, probe.Token);
                using var response = await http.GetAsync(health, linked.Token);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    Program.Progress($"service healthy after {Stopwatch.GetElapsedTime(started).TotalSeconds:0.0} s");
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException || (e is OperationCanceledException && !ct.IsCancellationRequested))
            {
                // not listening yet
            }

            await Task.Delay(250, ct);
        }

        throw new BenchException($"GET /health did not answer 200 within {HealthTimeout.TotalSeconds:0} s; last lines of {LogPath}:\n{Tail(LogPath!)}");
    }

    private static string Tail(string path) =>
        File.Exists(path) ? string.Join('\n', File.ReadLines(path).TakeLast(30)) : "(no log)";

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}

/// <summary>A schema's mt_events, read directly: xmin is the inserting transaction, so distinct xmin = commits.</summary>
internal sealed class EventLog(NpgsqlDataSource database, string schema)
{
    public NpgsqlDataSource Database => database;

    public string Schema => schema;

    public async Task<long> LastSeqAsync(CancellationToken ct)
    {
        await using var command = database.CreateCommand($"select coalesce(max(seq_id), 0) from {schema}.mt_events");
        return Convert.ToInt64(await command.ExecuteScalarAsync(ct), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task<(long Events, long Commits)> SinceAsync(long seq, CancellationToken ct)
    {
        await using var command = database.CreateCommand(
            $"select count(*), count(distinct xmin::text::bigint) from {schema}.mt_events where seq_id > @before");
        command.Parameters.AddWithValue("before", seq);
        await using var reader = await command.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        return (reader.GetInt64(0), reader.GetInt64(1));
    }
}
