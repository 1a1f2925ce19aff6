using System.Globalization;

namespace Xapi.Cqrs.Bench;

/// <summary>
/// Where a storm's CPU goes, read from /proc: the service process (when it is this run's child) and this run's
/// PostgreSQL cluster (its postmaster with every backend, live or exited). In seconds of CPU.
/// </summary>
internal sealed class CpuMeter(int? servicePid, string? pgDataDir)
{
    private static readonly double TicksPerSecond = 100.0; // USER_HZ on Linux

    public (double? Service, double? Postgres) Read() => (servicePid is { } pid ? ProcessSeconds(pid, children: false) : null, PostgresSeconds());

    private double? PostgresSeconds()
    {
        var pidFile = pgDataDir is null ? null : Path.Combine(pgDataDir, "postmaster.pid");
        if (pidFile is null || !File.Exists(pidFile) || !int.TryParse(File.ReadLines(pidFile).First(), out var postmaster))
        {
            return null;
        }

        var total = ProcessSeconds(postmaster, children: true) ?? 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), out var pid) && Stat(pid) is { } stat && stat.Parent == postmaster)
            {
                total += (stat.User + stat.System) / TicksPerSecond;
            }
        }

        return total;
    }

    /// <summary>utime + stime (and, with <paramref name="children"/>, cutime + cstime of exited children).</summary>
    private static double? ProcessSeconds(int pid, bool children) =>
        Stat(pid) is { } s ? (s.User + s.System + (children ? s.ChildUser + s.ChildSystem : 0)) / TicksPerSecond : null;

    private static (int Parent, long User, long System, long ChildUser, long ChildSystem)? Stat(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/stat");
            var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
            long F(int i) => long.Parse(fields[i], CultureInfo.InvariantCulture);
            return (int.Parse(fields[1], CultureInfo.InvariantCulture), F(11), F(12), F(13), F(14));
        }
        catch (IOException)
        {
            return null;
        }
    }
}
