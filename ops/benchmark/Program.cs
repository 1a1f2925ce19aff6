using System.Globalization;
using System.Runtime.InteropServices;
using Npgsql;

namespace Xapi.Cqrs.Bench;

/// <summary>
/// ops/bench's program: the limits of the database, the boot storms and the idle latency through the
/// service's HTTP API, and placement alone; one table to stdout and, with --out, the same as JSON.
/// Exit 0 when the run completed (targets met or not), 1 when it could not run, 2 on bad usage, 130 when interrupted.
/// </summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        Options options;
        try
        {
            options = Options.Parse(args);
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"bench: {e.Message}");
            Console.Error.WriteLine(Options.Usage);
            return 2;
        }

        using var cancel = new CancellationTokenSource();
        void Interrupt(PosixSignalContext context)
        {
            context.Cancel = true;
            cancel.Cancel();
        }

        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Interrupt);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Interrupt);

        var report = new Report();
        try
        {
            await RunAsync(options, report, cancel.Token);
            report.Print(Console.Out);
            if (options.Out is { } path)
            {
                await report.WriteJsonAsync(path);
                Console.WriteLine($"JSON written to {path}");
            }

            return 0;
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            report.Print(Console.Out);
            Console.Error.WriteLine("bench: interrupted");
            return 130;
        }
        catch (Exception e) when (e is BenchException or NpgsqlException or HttpRequestException or OperationCanceledException)
        {
            report.Print(Console.Out);
            Console.Error.WriteLine($"bench: error: {e.Message}");
            return 1;
        }
    }

    private static async Task RunAsync(Options options, Report report, CancellationToken ct)
    {
        var sizes = options.Sizes;
        await using var db = NpgsqlDataSource.Create(options.BaselineConnectionString);
        await report.CollectFactsAsync(options, db, ct);

        Progress($"limits: bare Marten and PostgreSQL alone, {Baselines.Tasks} tasks, {sizes.Baseline.TotalSeconds:0} s each");
        var marten = await Baselines.MartenAsync(options.BaselineConnectionString, sizes.Baseline, ct);
        var postgres = await Baselines.PostgresAsync(db, sizes.Baseline, ct);
        report.Sections.Add(Baselines.Section(marten, postgres));

        using var http = Api.NewClient();
        foreach (var mode in options.Runs("storm") ? new[] { StartMode.Sync, StartMode.Async } : [])
        {
            await using var service = await Service.OpenAsync(options, $"bench_{mode.ToString().ToLowerInvariant()}", http, ct);
            report.Sections.Add(await Storm.RunAsync(service, mode, sizes, marten, options.Url is null ? Path.Combine(options.WorkDir, "pg") : null, ct));
        }

        if (options.Runs("idle"))
        {
            await using var service = await Service.OpenAsync(options, "bench_idle", http, ct);
            report.Sections.Add(await Idle.RunAsync(service, sizes, ct));
        }

        if (options.Runs("audit"))
        {
            await using var service = await Service.OpenAsync(options, "bench_audit", http, ct);
            report.Sections.Add(await Audit.RunAsync(service, sizes, ct));
        }

        if (options.Runs("placement"))
        {
            Progress($"placement alone: {sizes.PlacementDecisions:N0} decisions at 64 and at 1,000 hosts");
            report.Sections.Add(Placement.Run(sizes, ct));
        }
    }

    /// <summary>A progress line on stderr (stdout carries only the table).</summary>
    public static void Progress(string message) =>
        Console.Error.WriteLine($"[bench {DateTime.Now.ToString("HH:mm:ss", CultureInfo.InvariantCulture)}] {message}");
}

/// <summary>How big each part of the run is.</summary>
internal sealed record Sizes(string Name, int Hosts, int Vms, TimeSpan Baseline, int IdleStarts, int PlacementDecisions, int PlacementWarmup,
    long AuditVmEvents, long AuditLogEvents)
{
    public static readonly Sizes Full = new("full", 64, 2_000, TimeSpan.FromSeconds(10), 50, 2_000, 200, 1_000, 1_000_000);
    public static readonly Sizes Quick = new("quick", 8, 200, TimeSpan.FromSeconds(3), 20, 500, 50, 300, 100_000);
}

/// <summary>The command line: the user's options (ops/bench passes them on) and the ones ops/bench adds.</summary>
internal sealed record Options
{
    public const string Usage = """
        usage: ops/bench [--quick] [--only SECTION] [--out FILE] [--url URL --token TOKEN [--service-cs CS] [--schema NAME]]
          --quick          smaller sizes (8 hosts / 200 VMs, 3 s baselines, 20 idle starts, 500 decisions)
          --only SECTION   run one section: storm, idle, audit or placement (the limits always run)
          --out FILE       also write the results as JSON
          --url URL        run the storms and the idle starts against this running service instead of
                           starting one per storm; --token is its pool-admin token
          --service-cs CS  (with --url) the service's database: events and commits per start are counted
                           there, and the limits are measured there (schemas bench_marten, bench_pg)
          --schema NAME    (with --url) the service's schema (default xapi)
        added by ops/bench: --cs CS (database for the baselines), --service-dll PATH, --work DIR,
                            --commit SHA, --command-line TEXT
        """;

    public bool Quick { get; private init; }
    public string? Out { get; private init; }
    public string? Only { get; private init; }

    public bool Runs(string section) => Only is null || Only == section;
    public Uri? Url { get; private init; }
    public string? Token { get; private init; }
    public string? ServiceConnectionString { get; private init; }
    public string ServiceSchema { get; private init; } = "xapi";
    public string ConnectionString { get; private init; } = "";
    public string? ServiceDll { get; private init; }
    public string WorkDir { get; private init; } = "";
    public string Commit { get; private init; } = "unknown";
    public string CommandLine { get; private init; } = "";

    public Sizes Sizes => Quick ? Sizes.Quick : Sizes.Full;

    /// <summary>The storms' database when it is known (so the limits are measured on the same one), else this run's cluster.</summary>
    public string BaselineConnectionString => ServiceConnectionString ?? ConnectionString;

    public static Options Parse(string[] args)
    {
        var o = new Options();
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new UsageException($"{args[i]} needs a value");
            o = args[i] switch
            {
                "--quick" => o with { Quick = true },
                "--out" => o with { Out = Path.GetFullPath(Value()) },
                "--only" => Value() is var only && only is "storm" or "idle" or "audit" or "placement" ? o with { Only = only }
                    : throw new UsageException("--only takes storm, idle, audit or placement"),
                "--url" => o with { Url = Uri.TryCreate(Value(), UriKind.Absolute, out var url) ? url : throw new UsageException("--url needs an absolute http URL") },
                "--token" => o with { Token = Value() },
                "--service-cs" => o with { ServiceConnectionString = Value() },
                "--schema" => o with { ServiceSchema = Value() },
                "--cs" => o with { ConnectionString = Value() },
                "--service-dll" => o with { ServiceDll = Value() },
                "--work" => o with { WorkDir = Value() },
                "--commit" => o with { Commit = Value() },
                "--command-line" => o with { CommandLine = Value() },
                var other => throw new UsageException($"unknown option '{other}'"),
            };
        }

        if (o.ConnectionString.Length == 0 || o.WorkDir.Length == 0)
        {
            throw new UsageException("--cs and --work are required (run it through ops/bench)");
        }

        if (o.Url is null && o.ServiceDll is null)
        {
            throw new UsageException("--service-dll is required unless --url is given");
        }

        if (o.ServiceDll is { } dll && !File.Exists(dll))
        {
            throw new UsageException($"--service-dll {dll}: no such file (dotnet build src/Xapi.Cqrs.Api -c Release)");
        }

        if (o.Url is not null && string.IsNullOrEmpty(o.Token))
        {
            throw new UsageException("--url needs --token (the service's pool-admin token)");
        }

        if (o.Url is null && (o.Token ?? o.ServiceConnectionString) is not null)
        {
            throw new UsageException("--token and --service-cs only go with --url");
        }

        if (!System.Text.RegularExpressions.Regex.IsMatch(o.ServiceSchema, "^[a-z_][a-z0-9_]*$"))
        {
            throw new UsageException("--schema must be a plain lower-case PostgreSQL identifier");
        }

        return o;
    }
}

internal sealed class UsageException(string message) : Exception(message);

/// <summary>The run cannot go on (the service did not start, the setup was refused, …).</summary>
internal sealed class BenchException(string message) : Exception(message);
