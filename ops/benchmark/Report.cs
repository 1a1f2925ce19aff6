using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Npgsql;

namespace Xapi.Cqrs.Bench;

/// <summary>
/// One measured figure: its value, the baseline measured in the same run and their ratio, and the target it is
/// held to (if any). An invariant (a count that must be 0) reads FAILED when broken; a missed target reads missed.
/// </summary>
internal sealed record Figure(string Name, double? Value, string Unit)
{
    public double? Baseline { get; init; }
    public string? BaselineName { get; init; }
    public string? Target { get; init; }
    public bool? Ok { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool Invariant { get; init; }
    public string? Detail { get; init; }

    public double? Ratio => Value is { } v && Baseline is { } b && b != 0 ? v / b : null;

    public string? Status => Ok switch
    {
        null => null,
        true => "ok",
        false => Invariant ? "FAILED" : "missed",
    };

    /// <summary>A count that must be 0.</summary>
    public static Figure MustBeZero(string name, long count, string? detail = null) =>
        new(name, count, "") { Target = "0", Ok = count == 0, Invariant = true, Detail = detail };
}

internal sealed record Section(string Title)
{
    public List<Figure> Figures { get; } = [];
    public List<string> Notes { get; } = [];
}

/// <summary>Latency percentiles in milliseconds (nearest rank).</summary>
internal sealed record Percentiles(double P50, double P95, double P99, int Count)
{
    public static Percentiles Of(IEnumerable<double> milliseconds)
    {
        var sorted = milliseconds.Order().ToArray();
        double At(double p) => sorted.Length == 0 ? double.NaN : sorted[Math.Max(0, (int)Math.Ceiling(p * sorted.Length) - 1)];
        return new Percentiles(At(0.50), At(0.95), At(0.99), sorted.Length);
    }
}

/// <summary>The run's facts and sections; printed as an aligned table, written as JSON.</summary>
internal sealed class Report
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public OrderedDictionary<string, string> Facts { get; } = [];
    public List<Section> Sections { get; } = [];

    public async Task CollectFactsAsync(Options options, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var version = db.CreateCommand("select version()");
        Facts["date (UTC)"] = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
        Facts["command"] = options.CommandLine.Length > 0 ? options.CommandLine : Environment.CommandLine;
        Facts["git commit"] = options.Commit;
        Facts["sizes"] = options.Sizes.Name;
        Facts["service"] = options.Url?.ToString() ?? options.ServiceDll!;
        Facts["database"] = options.ServiceConnectionString is null ? "this run's private PostgreSQL cluster" : "the service's (--service-cs)";
        Facts["processors"] = Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture);
        Facts["OS"] = RuntimeInformation.OSDescription;
        Facts[".NET"] = RuntimeInformation.FrameworkDescription;
        Facts["PostgreSQL"] = (string)(await version.ExecuteScalarAsync(ct))!;
    }

    public void Print(TextWriter output)
    {
        output.WriteLine();
        var keyWidth = Facts.Keys.Select(k => k.Length).DefaultIfEmpty(0).Max();
        foreach (var (key, value) in Facts)
        {
            output.WriteLine($"{key.PadRight(keyWidth)}  {value}");
        }

        string[] header = ["figure", "value", "baseline", "ratio", "target", "status", "detail"];
        var rows = Sections.SelectMany(s => s.Figures).Select(Cells).Append(header).ToList();
        var widths = Enumerable.Range(0, header.Length - 1).Select(c => rows.Max(r => r[c].Length)).ToArray();
        string Line(string[] cells) =>
            string.Join("  ", cells.Select((cell, c) => c < widths.Length ? (c is 1 or 3 ? cell.PadLeft(widths[c]) : cell.PadRight(widths[c])) : cell)).TrimEnd();

        foreach (var section in Sections)
        {
            output.WriteLine();
            output.WriteLine($"== {section.Title}");
            output.WriteLine(Line(header));
            foreach (var figure in section.Figures)
            {
                output.WriteLine(Line(Cells(figure)));
            }

            foreach (var note in section.Notes)
            {
                output.WriteLine($"   * {note}");
            }
        }

        output.WriteLine();
    }

    public async Task WriteJsonAsync(string path)
    {
        await using var file = File.Create(path);
        await JsonSerializer.SerializeAsync(file, new { facts = Facts, sections = Sections }, Json);
    }

    private static string[] Cells(Figure f) =>
    [
        f.Name,
        Format(f.Value, f.Unit),
        f.Baseline is null ? "" : $"{Format(f.Baseline, f.Unit)} {f.BaselineName}".TrimEnd(),
        f.Ratio is { } r ? r.ToString("0.000", CultureInfo.InvariantCulture) : "",
        f.Target ?? "",
        f.Status ?? "",
        f.Detail ?? "",
    ];

    public static string Format(double? value, string unit)
    {
        if (value is not { } v || double.IsNaN(v))
        {
            return "n/a";
        }

        var digits = v == Math.Floor(v) || Math.Abs(v) >= 100 ? "N0" : Math.Abs(v) >= 10 ? "N1" : "N2";
        var text = v.ToString(digits, CultureInfo.InvariantCulture);
        return unit.Length == 0 ? text : $"{text} {unit}";
    }

    /// <summary>Milliseconds since a <see cref="Stopwatch.GetTimestamp"/>.</summary>
    public static double MillisecondsSince(long timestamp) => Stopwatch.GetElapsedTime(timestamp).TotalMilliseconds;
}
