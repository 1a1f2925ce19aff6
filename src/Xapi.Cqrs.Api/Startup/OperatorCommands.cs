namespace Xapi.Cqrs.Api.Startup;

/// <summary>
/// Tells Marten's (JasperFx's) operator commands from the service's own command line: the first argument names a command,
/// and the <c>--Section:Key=value</c> arguments among the rest are configuration for the host the command builds.
/// </summary>
public sealed record OperatorCommands(string[] Configuration, string[] Arguments)
{
    /// <summary>The JasperFx commands this binary answers (Marten adds projections and the db-* family).</summary>
    public static readonly IReadOnlySet<string> Names = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "projections", "db-apply", "db-assert", "db-patch", "db-dump", "db-list", "describe", "help", "check-env", "resources", "codegen", "event-query", "stream-query", "projection-run", "marten",
    };

    public static OperatorCommands? Parse(string[] args)
    {
        if (args.Length == 0 || !Names.Contains(args[0]))
        {
            return null;
        }

        static bool IsConfiguration(string a) => a.StartsWith("--", StringComparison.Ordinal) && a.Contains(':', StringComparison.Ordinal) && a.Contains('=', StringComparison.Ordinal);
        return new OperatorCommands([.. args.Where(IsConfiguration)], [.. args.Where(a => !IsConfiguration(a))]);
    }
}
