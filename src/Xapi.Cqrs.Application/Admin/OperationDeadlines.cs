using Microsoft.Extensions.Configuration;

namespace Xapi.Cqrs.Application.Admin;

/// <summary>
/// <c>Xapi:Deadlines:&lt;operation&gt;</c> (API.md): how long an operation may stay open before its owner finishes or
/// undoes it (<c>OperationAbandoned</c>). Looked up by the operation's wire name, then by its family (<c>start</c> for
/// start/start_on, <c>shutdown</c> for clean/hard shutdown, <c>reboot</c> for clean/hard reboot), then
/// <c>Xapi:Deadlines:default</c>. Defaults: start 10 min, shutdown 2 min, everything else 5 min.
/// </summary>
public sealed class OperationDeadlines(IReadOnlyDictionary<string, TimeSpan> configured)
{
    public static readonly TimeSpan Start = TimeSpan.FromMinutes(10);
    public static readonly TimeSpan Shutdown = TimeSpan.FromMinutes(2);
    public static readonly TimeSpan Other = TimeSpan.FromMinutes(5);

    public OperationDeadlines()
        : this(new Dictionary<string, TimeSpan>())
    {
    }

    /// <summary>From the <c>Xapi:Deadlines</c> section; a value that is not a time span is a configuration error, reported at start.</summary>
    public static OperationDeadlines From(IConfiguration configuration)
    {
        var section = configuration.GetSection("Xapi:Deadlines");
        var map = new Dictionary<string, TimeSpan>(StringComparer.OrdinalIgnoreCase);
        foreach (var entry in section.GetChildren())
        {
            map[entry.Key] = TimeSpan.TryParse(entry.Value, System.Globalization.CultureInfo.InvariantCulture, out var span) && span > TimeSpan.Zero
                ? span
                : throw new InvalidOperationException($"Xapi:Deadlines:{entry.Key} = '{entry.Value}' is not a positive time span (e.g. 00:02:00)");
        }

        return new OperationDeadlines(map);
    }

    /// <summary>The deadline of an operation, by its xapi wire name (<c>clean_shutdown</c>, <c>start_on</c>, <c>plug</c>…).</summary>
    public TimeSpan For(string operation)
    {
        if (configured.TryGetValue(operation, out var exact))
        {
            return exact;
        }

        var family = operation switch
        {
            "start" or "start_on" => "start",
            "clean_shutdown" or "hard_shutdown" or "shutdown" => "shutdown",
            "clean_reboot" or "hard_reboot" => "reboot",
            _ => null,
        };
        if (family is not null && configured.TryGetValue(family, out var byFamily))
        {
            return byFamily;
        }

        return configured.TryGetValue("default", out var fallback) ? fallback
            : family switch { "start" => Start, "shutdown" => Shutdown, _ => Other };
    }
}
