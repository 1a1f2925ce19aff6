using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Xapi.Cqrs.Domain.Vifs;

/// <summary>VIF MAC addresses (§2.2): validation, and derivation from the VM's mac_seed and device number.</summary>
public static class Macs
{
    /// <summary>Six two-digit hex octets separated by ':' (or all by '-').</summary>
    public static bool IsValid(string mac)
    {
        if (mac.Length != 17)
        {
            return false;
        }

        var sep = mac[2];
        if (sep is not (':' or '-'))
        {
            return false;
        }

        for (var i = 0; i < 17; i++)
        {
            var ok = i % 3 == 2 ? mac[i] == sep : char.IsAsciiHexDigit(mac[i]);
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Lower-case, ':'-separated form.</summary>
    public static string Normalise(string mac) => mac.Replace('-', ':').ToLowerInvariant();

    /// <summary>
    /// A stable, locally administered unicast MAC for (mac_seed, device): the same VM and device always
    /// get the same address, different devices differ.
    /// </summary>
    public static string Derive(string macSeed, string device)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{macSeed}/{device}"));
        var octets = new byte[6];
        octets[0] = (byte)((hash[0] & 0xFC) | 0x02); // locally administered, unicast
        Array.Copy(hash, 1, octets, 1, 5);
        return string.Join(':', octets.Select(b => b.ToString("x2", CultureInfo.InvariantCulture)));
    }
}
