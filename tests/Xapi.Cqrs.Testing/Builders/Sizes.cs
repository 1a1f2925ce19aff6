namespace Xapi.Cqrs.Testing.Builders;

/// <summary>Byte sizes that read like the spec: <c>4096.MiB()</c>, <c>8.GiB()</c> (long bytes).</summary>
public static class Sizes
{
    public static long KiB(this int n) => n * 1024L;

    public static long MiB(this int n) => n * 1024L * 1024L;

    public static long GiB(this int n) => n * 1024L * 1024L * 1024L;

    public static long MiB(this long n) => n * 1024L * 1024L;

    public static long GiB(this long n) => n * 1024L * 1024L * 1024L;
}
