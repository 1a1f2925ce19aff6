namespace Xapi.Cqrs.Domain.Vbds;

/// <summary>
/// VBD userdevice names (§2.1 "other VBD rules"): a decimal position 0–254 (0–255 for control domains),
/// a Linux-style name (xvda, hdb, sdc …, letters counted base-26 from a), or "autodetect". Numeric
/// names and their hd*/xvd*/sd* aliases name the same disk, so uniqueness is checked on the position.
/// </summary>
public static class DeviceNames
{
    public const string Autodetect = "autodetect";
    public const int MaxPosition = 254;
    public const int MaxControlDomainPosition = 255;

    private static readonly string[] Prefixes = ["xvd", "hd", "sd"];

    /// <summary>The disk position a userdevice names, or null when the name is not valid.</summary>
    public static int? Position(string userdevice, bool controlDomain = false)
    {
        var max = controlDomain ? MaxControlDomainPosition : MaxPosition;
        if (userdevice.Length is > 0 and <= 3 && userdevice.All(char.IsAsciiDigit))
        {
            var n = int.Parse(userdevice, System.Globalization.CultureInfo.InvariantCulture);
            return n <= max ? n : null;
        }

        foreach (var prefix in Prefixes)
        {
            if (!userdevice.StartsWith(prefix, StringComparison.Ordinal))
            {
                continue;
            }

            var letters = userdevice[prefix.Length..];
            if (letters.Length is 0 or > 2 || !letters.All(char.IsAsciiLetterLower))
            {
                return null;
            }

            // a..z = 0..25, aa = 26 … (as Linux names disks)
            var index = 0;
            foreach (var c in letters)
            {
                index = (index * 26) + (c - 'a' + 1);
            }

            index--;
            if (prefix == "hd" && index > 3)
            {
                return null; // IDE has four positions
            }

            return index <= max ? index : null;
        }

        return null;
    }

    /// <summary>The xvd name the guest sees for a position (0 → xvda, 26 → xvdaa).</summary>
    public static string XvdName(int position)
    {
        var letters = "";
        var n = position + 1;
        while (n > 0)
        {
            n--;
            letters = (char)('a' + (n % 26)) + letters;
            n /= 26;
        }

        return "xvd" + letters;
    }

    /// <summary>
    /// The name a guest's disk at this position has, as xenopsd gives it and xapi stores in VBD.device: an HVM guest's
    /// first four positions are IDE (hda–hdd); any other, and every PV or PVH disk, is xvd (<see cref="XvdName"/>).
    /// </summary>
    public static string GuestName(int position, bool hvm) =>
        hvm && position < 4 ? "hd" + (char)('a' + position) : XvdName(position);

    /// <summary>The xenstore device id of a position (xvda = 51712 = 202 &lt;&lt; 8; beyond 15, the extended scheme).</summary>
    public static int XenstoreDevid(int position) =>
        position < 16 ? (202 << 8) | (position << 4) : (1 << 28) | (position << 8);

    /// <summary>The lowest free position given the positions already taken (for "autodetect").</summary>
    public static int? FirstFree(IEnumerable<int> taken, int max = MaxPosition)
    {
        var used = taken.ToHashSet();
        for (var i = 0; i <= max; i++)
        {
            if (!used.Contains(i))
            {
                return i;
            }
        }

        return null;
    }
}
